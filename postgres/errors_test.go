package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestDBError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		err      error
		code     string
		connLost bool
	}{
		{"admin shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, gitops.EUNAVAILABLE, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, gitops.EUNAVAILABLE, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, gitops.EUNAVAILABLE, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, gitops.EUNAVAILABLE, false},
		{"connection exception", &pgconn.PgError{Code: "08006"}, gitops.EUNAVAILABLE, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, gitops.EUNAVAILABLE, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, gitops.EINTERNAL, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, gitops.EINTERNAL, false},
		{"NUL in text", &pgconn.PgError{Code: "22021"}, gitops.EINVALID, false},
		{"NUL in jsonb", &pgconn.PgError{Code: "22P05"}, gitops.EINVALID, false},
		{"EOF", fmt.Errorf("reading: %w", io.EOF), gitops.EUNAVAILABLE, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, gitops.EUNAVAILABLE, true},
		{"conn closed", pgconn.ErrConnClosed, gitops.EUNAVAILABLE, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, gitops.EUNAVAILABLE, true},
		{"refused", refused, gitops.EUNAVAILABLE, true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), gitops.EUNAVAILABLE, false},
		{"canceled", context.Canceled, gitops.EUNAVAILABLE, false},
		{"other", errors.New("boom"), gitops.EINTERNAL, false},
		{"already a domain error", gitops.Errorf(gitops.ENOTFOUND, "server g/h not found"), gitops.ENOTFOUND, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dbError("reading server g/h", "", tt.err)
			if got := gitops.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q, want %q (%v)", got, tt.code, err)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("%v does not wrap its cause", err)
			}
			if tt.code == gitops.EUNAVAILABLE && !strings.HasPrefix(gitops.ErrorMessage(err), "database unavailable: ") {
				t.Fatalf("message %q", gitops.ErrorMessage(err))
			}
			if tt.code == gitops.EINTERNAL && gitops.ErrorMessage(err) != "the database failed while reading server g/h" {
				t.Fatalf("internal message %q shows details", gitops.ErrorMessage(err))
			}
			if got := connLost(tt.err); got != tt.connLost {
				t.Fatalf("connLost = %v, want %v", got, tt.connLost)
			}
		})
	}
}

func TestDBErrorRedactsPassword(t *testing.T) {
	cause := errors.New("dial tcp: lookup s3cret-host: user:s3cretpw@ no such host")
	err := dbError("connecting", "s3cretpw", &pgconn.PgError{Code: "08001", Message: "bad password s3cretpw"})
	err2 := dbError("connecting", "s3cretpw", fmt.Errorf("%w: %w", cause, io.EOF))
	for _, e := range []error{err, err2} {
		if strings.Contains(e.Error(), "s3cretpw") || strings.Contains(gitops.ErrorMessage(e), "s3cretpw") {
			t.Fatalf("password in %q / %q", e.Error(), gitops.ErrorMessage(e))
		}
	}
}

func TestWithDefaults(t *testing.T) {
	cfg, err := poolConfig("postgres://u@localhost/db")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != defaultMaxConns || cfg.ConnConfig.ConnectTimeout != defaultConnectTimeout ||
		cfg.ConnConfig.RuntimeParams["application_name"] != ApplicationName || cfg.PingTimeout != defaultPingTimeout {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	cfg, err = poolConfig("postgres://u@localhost/db?pool_max_conns=3&connect_timeout=9&application_name=mine")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 3 || cfg.ConnConfig.ConnectTimeout.Seconds() != 9 || cfg.ConnConfig.RuntimeParams["application_name"] != "mine" {
		t.Fatalf("URL settings overridden: max %d timeout %s app %q", cfg.MaxConns, cfg.ConnConfig.ConnectTimeout, cfg.ConnConfig.RuntimeParams["application_name"])
	}
}
