package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Error is an answer of 400 or more from the server. Message is the
// server's own sentence (the "error" of its JSON answer) and Field the input
// field it names, so a caller can show the user exactly what the server
// said. An answer that is not the API's error JSON (a proxy's HTML page)
// gets the HTTP status text as its Message.
//
// errors.As also finds the *gitops.Error it maps to, so gitops.ErrorCode,
// gitops.ErrorMessage and gitops.ErrorField work on errors of this package.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	Message    string
	Field      string
	// RequestID is the server's X-Request-Id of the answer: the key to the
	// server's log lines about it.
	RequestID string
	// Method and URL name the request that was refused.
	Method string
	URL    string
	// Attempts is how many times the request was sent.
	Attempts int

	retryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return msg
}

// Code is the domain error code of the answer's status (gitops.EINVALID for
// 400, gitops.EUNAUTHORIZED for 401, …; gitops.EINTERNAL for statuses the
// API does not use).
func (e *Error) Code() string {
	switch e.StatusCode {
	case http.StatusBadRequest:
		return gitops.EINVALID
	case http.StatusUnauthorized:
		return gitops.EUNAUTHORIZED
	case http.StatusForbidden:
		return gitops.EFORBIDDEN
	case http.StatusNotFound:
		return gitops.ENOTFOUND
	case http.StatusMethodNotAllowed:
		return gitops.EMETHOD
	case http.StatusConflict:
		return gitops.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return gitops.ETOOLARGE
	case http.StatusUnsupportedMediaType:
		return gitops.EUNSUPPORTED
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		return gitops.EUNAVAILABLE
	default:
		return gitops.EINTERNAL
	}
}

// Unwrap returns the *gitops.Error the answer maps to.
func (e *Error) Unwrap() error {
	return &gitops.Error{Code: e.Code(), Message: e.Message, Field: e.Field}
}

// Temporary reports whether sending the request again later may succeed:
// 5xx answers and 429. Other 4xx answers are the request's own fault.
func (e *Error) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// UnreachableError is returned when no attempt got an answer from the
// server: connection refused, DNS, TLS and timeout errors. An untrusted or
// mismatched server certificate is not retried. Err is the last
// attempt's error (or, when the deadline cut the last attempt short, the
// error of the one before, which says why the server could not be reached).
type UnreachableError struct {
	URL      string
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	cause := e.Err
	var ue *url.Error // "Post <URL>: …" would repeat the URL
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("%s could not be reached after %d attempts: %v", e.URL, e.Attempts, cause)
	}
	return fmt.Sprintf("%s could not be reached: %v", e.URL, cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Temporary reports whether err is a failure that trying again later may
// cure: the server could not be reached, answered 5xx or 429, or the
// context's deadline passed. A 4xx refusal (other than 429), a request that
// could not be built and a canceled context are not.
func Temporary(err error) bool {
	var ue *UnreachableError
	var ae *Error
	switch {
	case err == nil:
		return false
	case errors.As(err, &ae):
		return ae.Temporary()
	case errors.As(err, &ue):
		return !errors.Is(err, context.Canceled) && !permanent(err)
	default:
		return errors.Is(err, context.DeadlineExceeded)
	}
}

// permanent reports whether a transport error is one that trying again
// cannot cure: the server's certificate is not trusted or does not match
// its name (a missing --ca-file, a wrong URL).
func permanent(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}
