package http

import (
	"sync"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// The API's hot reads are served from memory: every request checks a
// token, and GET of a node or a finished run is the same answer until the
// project reloads (nodes) or forever (finished runs are immutable). Without
// this, 50 clients queue on the metadata store's one connection
// (BENCHMARKS.md has the before and after).

// tokenTTL bounds how long a token revoked by another process (not through
// this API, which purges at once) keeps working: revocation takes effect
// within a second wherever it is done.
const tokenTTL = 500 * time.Millisecond

type cachedToken struct {
	tok *tandem.Token
	at  time.Time
}

type cache struct {
	mu      sync.Mutex
	tokens  map[string]cachedToken // hash -> token
	proj    *project.Project       // the project nodes were encoded for
	nodes   map[string][]byte      // node ID -> JSON
	runs    map[string][]byte      // finished run ID -> JSON
	runKeys []string               // insertion order, to bound runs
}

func newCache() *cache {
	return &cache{tokens: map[string]cachedToken{}, nodes: map[string][]byte{}, runs: map[string][]byte{}}
}

func (c *cache) token(hash string, now time.Time) *tandem.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct, ok := c.tokens[hash]; ok && now.Sub(ct.at) < tokenTTL {
		return ct.tok
	}
	return nil
}

func (c *cache) putToken(hash string, tok *tandem.Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) > 10000 {
		c.tokens = map[string]cachedToken{}
	}
	c.tokens[hash] = cachedToken{tok: tok, at: now}
}

func (c *cache) dropToken(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, ct := range c.tokens {
		if ct.tok.ID == id {
			delete(c.tokens, h)
		}
	}
}

func (c *cache) node(p *project.Project, id string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proj != p {
		c.proj, c.nodes = p, map[string][]byte{}
		return nil
	}
	return c.nodes[id]
}

func (c *cache) putNode(p *project.Project, id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proj == p {
		c.nodes[id] = b
	}
}

func (c *cache) run(id string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

func (c *cache) putRun(key string, r *tandem.Run, b []byte) {
	if r.Status == tandem.StatusRunning || r.Status == tandem.StatusQueued {
		return // still changing
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.runs[key]; ok {
		return
	}
	c.runs[key] = b
	c.runKeys = append(c.runKeys, key)
	if len(c.runKeys) > 1000 {
		delete(c.runs, c.runKeys[0])
		c.runKeys = c.runKeys[1:]
	}
}
