package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5/pgconn"
)

// storeError is a *gitops.Error for the caller together with its cause for
// logs. Its text has the password redacted, because logs are read by more
// people than the database's owners.
type storeError struct {
	ge    *gitops.Error
	cause error
	text  string
}

func (e *storeError) Error() string   { return e.text }
func (e *storeError) Unwrap() []error { return []error{e.ge, e.cause} }

// errClosed is returned by every method called after Close.
func errClosed() error {
	return gitops.Errorf(gitops.EUNAVAILABLE, "the store is closed")
}

// notFound is the ENOTFOUND error for a missing server.
func notFound(k gitops.Key) error {
	return gitops.Errorf(gitops.ENOTFOUND, "server %s not found", k)
}

// dbError turns err, which happened while doing (as in "reading server
// g/h"), into a *gitops.Error with the cause kept in the chain:
// EUNAVAILABLE when the database cannot be reached or did not answer in
// time, EINVALID for text PostgreSQL cannot store, EINTERNAL otherwise.
// Errors that already are *gitops.Error pass through. password, when not
// empty, is removed from every text.
func dbError(doing, password string, err error) error {
	if err == nil {
		return nil
	}
	var ge *gitops.Error
	if errors.As(err, &ge) {
		return err
	}
	code, msg := classify(err)
	if code == gitops.EINTERNAL {
		msg = "the database failed while " + doing
	} else if code == gitops.EUNAVAILABLE {
		msg = "database unavailable: " + msg + " (while " + doing + ")"
	}
	ge = gitops.Errorf(code, "%s", redact(msg, password))
	return &storeError{ge: ge, cause: err, text: redact(ge.Error()+": "+oneLine(err), password)}
}

// classify returns the code err maps to and, for EUNAVAILABLE and EINVALID,
// the reason in words.
func classify(err error) (code, reason string) {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce):
		return gitops.EUNAVAILABLE, connectReason(ce)
	case errors.Is(err, context.Canceled):
		return gitops.EUNAVAILABLE, "the request was canceled before the database answered"
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return gitops.EUNAVAILABLE, "the database did not answer in time"
	case errors.As(err, &pe):
		switch {
		case pe.Code == "57P01":
			return gitops.EUNAVAILABLE, "the database server closed the connection (administrator command or shutdown)"
		case pe.Code == "57P02":
			return gitops.EUNAVAILABLE, "the database server closed the connection (crash of another server process)"
		case pe.Code == "57P03":
			return gitops.EUNAVAILABLE, "the database server is starting up or shutting down"
		case pe.Code == "57P05":
			return gitops.EUNAVAILABLE, "the database server closed the idle connection"
		case pe.Code == "53300":
			return gitops.EUNAVAILABLE, "the database server has too many connections"
		case strings.HasPrefix(pe.Code, "08"):
			return gitops.EUNAVAILABLE, "connection failure: " + pe.Message
		case pe.Code == "25006":
			// read_only_sql_transaction: we reached a standby, as after a
			// failover that has not finished moving the address.
			return gitops.EUNAVAILABLE, "the database server is read-only (a standby)"
		case pe.Code == "22021" || pe.Code == "22P05":
			// The JSON decoder accepts "\u0000", PostgreSQL text cannot
			// hold it.
			return gitops.EINVALID, "text containing a NUL character (\\u0000) cannot be stored"
		}
		return gitops.EINTERNAL, ""
	case connLost(err):
		return gitops.EUNAVAILABLE, "the connection to the database server was lost"
	}
	return gitops.EINTERNAL, ""
}

// connectReason says in a few words why a connection could not be made:
// the server's own refusal (authentication, unknown database, too many
// connections), or the network error at the address it tried.
func connectReason(ce *pgconn.ConnectError) string {
	var pe *pgconn.PgError
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(ce, &pe):
		return "the database server refused the connection: " + pe.Message
	case errors.As(ce, &dns):
		return "cannot resolve the database server's name " + dns.Name + ": " + dns.Err
	case errors.As(ce, &op):
		at := ""
		if op.Addr != nil {
			at = " at " + op.Addr.String()
		}
		why := op.Err
		for errors.Unwrap(why) != nil {
			why = errors.Unwrap(why)
		}
		if op.Timeout() {
			return "cannot connect to the database server" + at + ": timed out"
		}
		return "cannot connect to the database server" + at + ": " + why.Error()
	case errors.Is(ce, context.DeadlineExceeded) || pgconn.Timeout(ce):
		return "cannot connect to the database server: timed out"
	}
	if inner := errors.Unwrap(ce); inner != nil {
		return "cannot connect to the database server: " + oneLine(inner)
	}
	return "cannot connect to the database server"
}

// connLost reports whether err says the connection died under a query, as
// opposed to the server refusing the query: then the other idle connections
// of the pool are suspect too, and a query that is safe to repeat may be
// repeated on a new connection. Failing to connect at all is not a lost
// connection: repeating would only fail again.
func connLost(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P05":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne)
}

// sqlState returns the SQLSTATE of the server error in err's chain, if any.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// redact removes password from s.
func redact(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "xxxxx")
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
