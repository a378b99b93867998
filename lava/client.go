package lava

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Client talks to a LAVA server's REST API (api/v0.2).
type Client struct {
	URL   string // the server's base URL, http://host:port/
	token string
	HTTP  *http.Client
}

// TokenEnv names the environment variable that holds the API token.
const TokenEnv = "LAVA_TOKEN"

// NewClient is a client of the server at base, with the token from
// $LAVA_TOKEN, else from lavacli's identity file (its entry whose uri is
// on that server). The token goes only into the Authorization header.
func NewClient(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--lava %q: not an http(s) URL of a LAVA server", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/"
	u.RawQuery, u.Fragment = "", ""
	token := os.Getenv(TokenEnv)
	if token == "" {
		token = identityToken(u)
	}
	if token == "" {
		return nil, fmt.Errorf("no token for %s: set $%s, or add an identity with lavacli identities add", u.Host, TokenEnv)
	}
	return &Client{URL: u.String(), token: token, HTTP: &http.Client{Timeout: time.Minute}}, nil
}

// identityToken reads the token of lavacli's identity for the server
// ($XDG_CONFIG_HOME/lavacli.yaml: name -> {uri, username, token}).
func identityToken(server *url.URL) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, "lavacli.yaml"))
	if err != nil {
		return ""
	}
	var ids map[string]struct {
		URI   string `yaml:"uri"`
		Token string `yaml:"token"`
	}
	if yaml.Unmarshal(data, &ids) != nil {
		return ""
	}
	for _, id := range ids {
		if u, err := url.Parse(id.URI); err == nil && u.Host == server.Host && id.Token != "" {
			return id.Token
		}
	}
	return ""
}

// Error is a response the server gave that was not a success.
type Error struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *Error) Error() string {
	return fmt.Sprintf("LAVA %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// do sends a request to path (under api/v0.2/) and decodes the JSON
// reply into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	data, err := c.send(ctx, method, path, body, "application/json", 64<<20)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("LAVA %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request to path (under api/v0.2/), body as JSON, and
// returns at most limit bytes of the reply; a reply that is not a
// success is an *Error.
func (c *Client) send(ctx context.Context, method, path string, body any, accept string, limit int64) ([]byte, error) {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+"api/v0.2/"+path, in)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Token "+c.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("LAVA %s: %w", c.URL, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Method: method, Path: path, Status: resp.StatusCode, Body: string(data[:min(len(data), 500)])}
	}
	return data, nil
}

// Submit submits a job definition and returns the job's id.
func (c *Client) Submit(ctx context.Context, definition []byte) (int, error) {
	var r struct {
		IDs []int `json:"job_ids"`
	}
	if err := c.do(ctx, "POST", "jobs/", map[string]string{"definition": string(definition)}, &r); err != nil {
		return 0, err
	}
	if len(r.IDs) != 1 {
		return 0, fmt.Errorf("LAVA returned %d job ids for one job", len(r.IDs))
	}
	return r.IDs[0], nil
}

// Status is where a job stands.
type Status struct {
	ID             int    `json:"id"`
	State          string `json:"state"`  // Submitted, Scheduling, Scheduled, Running, Canceling, Finished
	Health         string `json:"health"` // Unknown, Complete, Incomplete, Canceled
	FailureComment string `json:"failure_comment"`
	Device         string `json:"actual_device"` // the device it runs on, once scheduled
}

// Job returns a job's status.
func (c *Client) Job(ctx context.Context, id int) (Status, error) {
	var s Status
	err := c.do(ctx, "GET", "jobs/"+strconv.Itoa(id)+"/", nil, &s)
	return s, err
}

// WorkerOnline says whether the worker of a device is online: the
// server marks a worker offline when it stopped asking for work, and a
// job on it then never ends by itself.
func (c *Client) WorkerOnline(ctx context.Context, device string) (bool, error) {
	var d struct {
		Worker string `json:"worker_host"`
	}
	if err := c.do(ctx, "GET", "devices/"+url.PathEscape(device)+"/", nil, &d); err != nil {
		return false, err
	}
	var w struct {
		State string `json:"state"`
	}
	if err := c.do(ctx, "GET", "workers/"+url.PathEscape(d.Worker)+"/", nil, &w); err != nil {
		return false, err
	}
	return w.State != "Offline", nil
}

// Cancel asks the server to cancel a job.
func (c *Client) Cancel(ctx context.Context, id int) error {
	return c.do(ctx, "GET", "jobs/"+strconv.Itoa(id)+"/cancel/", nil, nil)
}

// TestCase is one result of a job.
type TestCase struct {
	Name        string `json:"name"`
	Result      string `json:"result"` // pass, fail, skip, unknown
	Measurement string `json:"measurement"`
}

// Results returns a job's test cases.
func (c *Client) Results(ctx context.Context, id int) ([]TestCase, error) {
	var r struct {
		Results []TestCase `json:"results"`
	}
	err := c.do(ctx, "GET", "jobs/"+strconv.Itoa(id)+"/tests/?limit=1000", nil, &r)
	return r.Results, err
}

// Line is one line of a job's log.
type Line struct {
	Level string `yaml:"lvl"`
	Msg   any    `yaml:"msg"`
}

// Logs returns a job's log lines from the start-th on (LAVA's log is a
// YAML list of {dt, lvl, msg}).
func (c *Client) Logs(ctx context.Context, id, start int) ([]Line, error) {
	data, err := c.send(ctx, "GET", "jobs/"+strconv.Itoa(id)+"/logs/?start="+strconv.Itoa(start), nil, "", 256<<20)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil, nil // no log yet
	}
	if err != nil {
		return nil, err
	}
	var lines []Line
	if err := yaml.Unmarshal(data, &lines); err != nil {
		return nil, fmt.Errorf("job %d's log: %w", id, err)
	}
	return lines, nil
}

// Target is a console line of the guest: LAVA logs what the device
// printed at level "target".
func (l Line) Target() (string, bool) {
	s, ok := l.Msg.(string)
	return s, ok && l.Level == "target"
}
