package metrics

import (
	"context"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

func (s *store) SetHead(ctx context.Context, u gitops.SetHead) (gitops.HeadOutcome, error) {
	start := time.Now()
	o, err := s.s.SetHead(ctx, u)
	s.done("set_head", start, err)
	return o, err
}

func (s *store) Heads(ctx context.Context) ([]gitops.Head, error) {
	start := time.Now()
	h, err := s.s.Heads(ctx)
	s.done("heads", start, err)
	return h, err
}

func (s *store) DeleteHead(ctx context.Context, k gitops.HeadKey) error {
	start := time.Now()
	err := s.s.DeleteHead(ctx, k)
	s.done("delete_head", start, err)
	return err
}

func (s *store) ImportHeads(ctx context.Context, heads []gitops.Head) error {
	start := time.Now()
	err := s.s.ImportHeads(ctx, heads)
	s.done("import_heads", start, err)
	return err
}
