package gitops

// HeadSizeHint is headSizeHint, for encode_test.go.
func HeadSizeHint(s *Server) int { return s.headSizeHint() }
