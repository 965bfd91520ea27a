// Package githook answers git push webhooks (SPEC §10): GitHub,
// Gitea/Forgejo and GitLab push events set the head of the pushed branch.
// It is an HTTP adapter beside httpapi, mounted by the program on
// POST /hooks/git only when a webhook secret is configured.
//
// The signature (GitHub, Gitea/Forgejo: X-Hub-Signature-256, an HMAC-SHA256
// of the body) or token (GitLab: X-Gitlab-Token) is this route's
// authentication, checked in constant time before anything of the body is
// read; the route needs no bearer token.
package githook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
)

// Provider is the product that sent a webhook.
type Provider string

const (
	GitHub Provider = "github"
	Gitea  Provider = "gitea" // also Forgejo, which sends Gitea's headers
	GitLab Provider = "gitlab"
)

// Kind is what a verified webhook asks for.
type Kind int

const (
	// KindPush is a push to a branch: its head is set.
	KindPush Kind = iota
	// KindPing is a ping or test event: answered 200, nothing changes.
	KindPing
	// KindIgnored is any other event, a tag push or a deleted branch:
	// answered 202, nothing changes.
	KindIgnored
)

// Event is a verified webhook as this package reads it.
type Event struct {
	Provider Provider
	Kind     Kind
	// Why says why a KindIgnored event is ignored.
	Why string
	// Head is the head a KindPush sets.
	Head gitops.SetHead
}

// Detect tells the provider from the event header and returns the event
// name it carries, or an EINVALID error when the request is from none of
// them. Forgejo sends X-Forgejo-Event beside X-Gitea-Event.
func Detect(h http.Header) (Provider, string, error) {
	switch {
	case h.Get("X-GitHub-Event") != "":
		return GitHub, h.Get("X-GitHub-Event"), nil
	case h.Get("X-Gitea-Event") != "":
		return Gitea, h.Get("X-Gitea-Event"), nil
	case h.Get("X-Forgejo-Event") != "":
		return Gitea, h.Get("X-Forgejo-Event"), nil
	case h.Get("X-Gitlab-Event") != "":
		return GitLab, h.Get("X-Gitlab-Event"), nil
	}
	return "", "", gitops.Errorf(gitops.EINVALID,
		"not a GitHub, Gitea/Forgejo or GitLab webhook: the request has none of the headers X-GitHub-Event, X-Gitea-Event, X-Forgejo-Event, X-Gitlab-Event")
}

// Verify checks that body was sent by someone who knows secret: for GitHub
// and Gitea/Forgejo the X-Hub-Signature-256 header ("sha256=" and the hex
// HMAC-SHA256 of body; older Gitea and Forgejo send only the hex in
// X-Gitea-Signature or X-Forgejo-Signature), for GitLab the X-Gitlab-Token
// header, equal to secret. Comparisons take constant time. The error is
// EUNAUTHORIZED.
func Verify(p Provider, h http.Header, body []byte, secret string) error {
	if p == GitLab {
		got := h.Get("X-Gitlab-Token")
		if got == "" {
			return gitops.Errorf(gitops.EUNAUTHORIZED, "the GitLab webhook has no X-Gitlab-Token header: set the webhook's secret token to --git-webhook-secret")
		}
		// Hashing both sides first makes the comparison's time independent
		// of the lengths, too.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return gitops.Errorf(gitops.EUNAUTHORIZED, "the X-Gitlab-Token header does not match --git-webhook-secret")
		}
		return nil
	}
	sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
	if !ok {
		sig = h.Get("X-Gitea-Signature")
		if sig == "" {
			sig = h.Get("X-Forgejo-Signature")
		}
	}
	if sig == "" {
		return gitops.Errorf(gitops.EUNAUTHORIZED, "the webhook has no X-Hub-Signature-256 header (\"sha256=<hex HMAC-SHA256 of the body>\"): set the webhook's secret to --git-webhook-secret")
	}
	got, err := hex.DecodeString(sig)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return gitops.Errorf(gitops.EUNAUTHORIZED, "the webhook's signature does not match its body signed with --git-webhook-secret")
	}
	return nil
}

// zeroSHA is the commit git names for "no commit": the after of a push
// that deleted a branch.
func zeroSHA(s string) bool { return strings.Trim(s, "0") == "" }

// push is the part of a push event every provider's payload shares, with
// the names each gives the repository and the pusher.
type push struct {
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"` // GitHub
	// GitHub and Gitea/Forgejo.
	Repository struct {
		Name     string `json:"name"`
		FullName string `json:"full_name"`
	} `json:"repository"`
	Pusher struct {
		Name     string `json:"name"`     // GitHub
		Login    string `json:"login"`    // Gitea/Forgejo
		Username string `json:"username"` // Gitea/Forgejo
	} `json:"pusher"`
	// GitLab.
	ObjectKind  string  `json:"object_kind"`
	CheckoutSHA *string `json:"checkout_sha"`
	UserName    string  `json:"user_username"`
	Project     struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

// Parse reads a verified webhook of provider p whose event header said
// event.
func Parse(p Provider, event string, body []byte) (Event, error) {
	ev := Event{Provider: p, Kind: KindIgnored}
	switch {
	case p == GitHub && event == "ping":
		ev.Kind = KindPing
		return ev, nil
	case p == GitHub && event == "push", p == Gitea && event == "push", p == GitLab && event == "Push Hook":
	case p == GitLab && event == "Tag Push Hook":
		ev.Why = "a tag push sets no branch's head"
		return ev, nil
	default:
		ev.Why = "the event " + strconv.Quote(event) + " is not a push"
		return ev, nil
	}
	var pu push
	if err := json.Unmarshal(body, &pu); err != nil {
		return ev, gitops.Errorf(gitops.EINVALID, "the push event is not the JSON object %s sends: %v (set the webhook's content type to application/json)", p, err)
	}
	branch, ok := strings.CutPrefix(pu.Ref, "refs/heads/")
	switch {
	case strings.HasPrefix(pu.Ref, "refs/tags/"):
		ev.Why = "a tag push sets no branch's head"
		return ev, nil
	case !ok:
		ev.Why = "the push is to " + strconv.Quote(pu.Ref) + ", not to a branch (refs/heads/...)"
		return ev, nil
	case pu.Deleted || zeroSHA(pu.After) || (p == GitLab && pu.CheckoutSHA == nil):
		ev.Why = "the push deleted the branch " + strconv.Quote(branch)
		return ev, nil
	}
	u := gitops.SetHead{Branch: branch, CommitSHA: pu.After}
	switch p {
	case GitLab:
		// The project's path, not its display name (which may hold
		// spaces): the name a checkout's directory and CI variables use.
		u.RepoName = pu.Project.PathWithNamespace
		if i := strings.LastIndexByte(u.RepoName, '/'); i >= 0 {
			u.RepoName = u.RepoName[i+1:]
		}
		u.UpdatedBy = pu.UserName
	default:
		u.RepoName = pu.Repository.Name
		u.UpdatedBy = firstOf(pu.Pusher.Name, pu.Pusher.Username, pu.Pusher.Login)
	}
	if u.UpdatedBy == "" {
		u.UpdatedBy = string(p)
	} else {
		u.UpdatedBy = string(p) + ":" + u.UpdatedBy
	}
	if err := u.Validate(); err != nil {
		return ev, err
	}
	ev.Kind, ev.Head = KindPush, u
	return ev, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// HeadSetter is what the handler needs of the store.
type HeadSetter interface {
	SetHead(ctx context.Context, u gitops.SetHead) (gitops.HeadOutcome, error)
}

// Config is what the handler needs from the program.
type Config struct {
	Store HeadSetter
	// Secret is --git-webhook-secret; the handler refuses to be built
	// without one.
	Secret string
	// MaxBodyBytes limits request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Logger receives refused deliveries (Info) and store errors (Error);
	// nil discards them.
	Logger *slog.Logger
}

// Handler answers POST /hooks/git.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the handler of cfg. It panics without a secret or store, a
// programming error: the program mounts it only when one is configured.
func New(cfg Config) *Handler {
	if cfg.Secret == "" || cfg.Store == nil {
		panic("githook: Config.Secret and Config.Store are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: log}
}

// answer is the body of a 200 ping or a 202.
type answer struct {
	Status string `json:"status"`
	Event  string `json:"event"`
	Reason string `json:"reason,omitempty"`
}

// ServeHTTP verifies and applies one webhook: 200 with the stored head for
// a push to a branch, 200 for a ping, 202 for anything else, 401 when the
// signature or token does not match (nothing of the body was used).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, gitops.Errorf(gitops.EUNSUPPORTED, "Content-Type %q is not accepted: set the webhook's content type to application/json", ct))
			return
		}
	}
	p, event, err := Detect(r.Header)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := Verify(p, r.Header, body, h.cfg.Secret); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "git webhook refused", slog.String("provider", string(p)),
			slog.String("event", event), slog.String("reason", gitops.ErrorMessage(err)))
		writeError(w, err)
		return
	}
	ev, err := Parse(p, event, body)
	if err != nil {
		writeError(w, err)
		return
	}
	switch ev.Kind {
	case KindPing:
		writeJSON(w, http.StatusOK, answer{Status: "ok", Event: event})
		return
	case KindIgnored:
		writeJSON(w, http.StatusAccepted, answer{Status: "ignored", Event: event, Reason: ev.Why})
		return
	}
	out, err := h.cfg.Store.SetHead(r.Context(), ev.Head)
	if err != nil {
		if code := gitops.ErrorCode(err); code == gitops.EINTERNAL {
			h.log.LogAttrs(r.Context(), slog.LevelError, "setting a head from a git webhook failed", slog.Any("err", err))
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out.Head)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, gitops.Errorf(gitops.EINVALID, "reading the webhook's body failed: %v", err)
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return gitops.Errorf(gitops.ETOOLARGE, "the webhook's body is larger than %d bytes (--max-body-bytes)", limit)
}

var statusOf = map[string]int{
	gitops.EINVALID:      http.StatusBadRequest,
	gitops.EUNAUTHORIZED: http.StatusUnauthorized,
	gitops.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	gitops.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	gitops.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// writeError answers err as every error of the API is answered:
// {"error": "<sentence>", "field": "<name>"}; internal errors' text is not
// sent.
func writeError(w http.ResponseWriter, err error) {
	code, ok := statusOf[gitops.ErrorCode(err)]
	msg := gitops.ErrorMessage(err)
	if !ok {
		code, msg = http.StatusInternalServerError, "internal error; the server log has the details"
	}
	var e *gitops.Error
	body := struct {
		Error string `json:"error"`
		Field string `json:"field,omitempty"`
	}{Error: msg}
	if errors.As(err, &e) && ok {
		body.Field = e.Field
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
