package bug

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// SyzbotHost is where a bare extid is looked up.
const SyzbotHost = "https://syzkaller.appspot.com"

// maxPage bounds a bug page and its JSON: a few hundred kilobytes in
// practice.
const maxPage = 16 << 20

// SyzbotBug is what a syzbot bug page says about the crash a workspace is
// made from: the one with the best reproducer (C over syz over none),
// its files' URLs and its assets.
type SyzbotBug struct {
	Page   string // the bug's page
	Title  string
	Crash  SyzbotCrash
	Assets map[string]string // kernel, vmlinux, disk: their URLs
}

// SyzbotCrash is one crash of a bug, as the page's JSON (&json=1) lists
// it; the file URLs are made absolute.
type SyzbotCrash struct {
	Title        string `json:"title"`
	SyzRepro     string `json:"syz-reproducer"`
	CRepro       string `json:"c-reproducer"`
	KernelConfig string `json:"kernel-config"`
	SourceGit    string `json:"kernel-source-git"`
	SourceCommit string `json:"kernel-source-commit"`
	Arch         string `json:"architecture"`
	Report       string `json:"crash-report-link"`
}

type syzbotJSON struct {
	Title   string        `json:"title"`
	Crashes []SyzbotCrash `json:"crashes"`
}

// SyzbotPage returns the page of a bug named by its URL or its extid.
func SyzbotPage(ref string) (string, error) {
	if !strings.Contains(ref, "/") {
		if !regexp.MustCompile(`^[0-9a-f]{8,40}$`).MatchString(ref) {
			return "", fmt.Errorf("--syzbot %q: neither a URL nor an extid (hex)", ref)
		}
		return SyzbotHost + "/bug?extid=" + ref, nil
	}
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--syzbot %q: not an http(s) URL", ref)
	}
	q := u.Query()
	q.Del("json")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// FetchSyzbot reads a bug's page and its JSON.
func FetchSyzbot(ctx context.Context, client *http.Client, page string) (*SyzbotBug, error) {
	u, _ := url.Parse(page)
	q := u.Query()
	q.Set("json", "1")
	u.RawQuery = q.Encode()
	body, err := get(ctx, client, u.String())
	if err != nil {
		return nil, err
	}
	var j syzbotJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, fmt.Errorf("%s: not a syzbot bug's JSON: %w", u, err)
	}
	if len(j.Crashes) == 0 {
		return nil, fmt.Errorf("%s: the bug lists no crash", u)
	}
	b := &SyzbotBug{Page: page, Title: j.Title, Crash: bestCrash(j.Crashes)}
	for _, p := range []*string{&b.Crash.SyzRepro, &b.Crash.CRepro, &b.Crash.KernelConfig, &b.Crash.Report} {
		if *p, err = resolve(page, *p); err != nil {
			return nil, err
		}
	}
	html, err := get(ctx, client, page)
	if err != nil {
		return nil, err
	}
	b.Assets = Assets(page, string(html), b.Crash.SourceCommit)
	return b, nil
}

// bestCrash is the crash with a C reproducer, else one with a syz
// reproducer, else the first: syzbot lists the best first, but says so
// nowhere.
func bestCrash(cs []SyzbotCrash) SyzbotCrash {
	for _, c := range cs {
		if c.CRepro != "" {
			return c
		}
	}
	for _, c := range cs {
		if c.SyzRepro != "" {
			return c
		}
	}
	return cs[0]
}

// assetLink is a link to one of syzbot's assets:
// .../syzbot-assets/HASH/bzImage-COMMIT8.xz, vmlinux-COMMIT8.xz,
// disk-COMMIT8.raw.xz.
var assetLink = regexp.MustCompile(`href="([^"]*/syzbot-assets/[0-9a-f]+/(bzImage|vmlinux|disk)-([0-9a-f]{8})(?:\.raw)?\.xz)"`)

// Assets finds the kernel, vmlinux and disk image a bug's page links, of
// the commit given when it links several builds' (the first of each
// otherwise).
func Assets(page, html, commit string) map[string]string {
	roles := map[string]string{"bzImage": Kernel, "vmlinux": Vmlinux, "disk": Disk}
	out := map[string]string{}
	exact := map[string]bool{}
	for _, m := range assetLink.FindAllStringSubmatch(html, -1) {
		role := roles[m[2]]
		match := commit != "" && strings.HasPrefix(commit, m[3])
		if _, have := out[role]; have && (exact[role] || !match) {
			continue
		}
		link, err := resolve(page, strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			continue
		}
		out[role], exact[role] = link, match
	}
	return out
}

// resolve makes a link of a page absolute; only http(s) is taken.
func resolve(page, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	base, err := url.Parse(page)
	if err != nil {
		return "", err
	}
	u, err := base.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%s links %q: not an http(s) URL", page, link)
	}
	return u.String(), nil
}

// get reads a page, bounded.
func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if len(body) > maxPage {
		return nil, fmt.Errorf("%s: larger than %d bytes", u, maxPage)
	}
	return body, nil
}
