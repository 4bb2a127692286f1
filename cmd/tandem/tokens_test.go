package main

import (
	"strings"
	"testing"
)

// TestKeyAndTokenListRevoke: `tandem key list|revoke` and `tandem token
// list|revoke` show credentials without secrets and revoke them; a key is
// not revoked as a token, nor the other way round.
func TestKeyAndTokenListRevoke(t *testing.T) {
	dir := newProject(t, map[string]string{"models/a.sql": "select 1 as x"})
	key := strings.TrimSpace(mustRun(t, "key", "create", "--source", "web", "--project-dir", dir))
	tok := strings.TrimSpace(mustRun(t, "token", "create", "--role", "editor", "--name", "ana", "--project-dir", dir))
	keys := mustRun(t, "key", "list", "--project-dir", dir)
	toks := mustRun(t, "token", "list", "--project-dir", dir)
	if !strings.Contains(keys, "web") || strings.Contains(keys, "ana") || strings.Contains(keys, key) {
		t.Errorf("key list:\n%s", keys)
	}
	if !strings.Contains(toks, "ana") || !strings.Contains(toks, "editor") || strings.Contains(toks, "web") || strings.Contains(toks, tok) {
		t.Errorf("token list:\n%s", toks)
	}
	keyID := strings.Fields(strings.Split(keys, "\n")[1])[0]
	tokID := strings.Fields(strings.Split(toks, "\n")[1])[0]
	if _, errs, code := tandemCLI(t, "token", "revoke", keyID, "--project-dir", dir); code == 0 || !strings.Contains(errs, "tandem key revoke "+keyID) {
		t.Errorf("a key revoked as a token: exit %d %s", code, errs)
	}
	if _, errs, code := tandemCLI(t, "key", "revoke", "key_nope", "--project-dir", dir); code == 0 || !strings.Contains(errs, "tandem key list") {
		t.Errorf("an unknown key: exit %d %s", code, errs)
	}
	_, errs, code := tandemCLI(t, "key", "revoke", keyID, "--project-dir", dir)
	if code != 0 || !strings.Contains(errs, "Revoked write key "+keyID) {
		t.Errorf("key revoke: exit %d %s", code, errs)
	}
	mustRun(t, "token", "revoke", tokID, "--project-dir", dir)
	if keys := mustRun(t, "key", "list", "--project-dir", dir); strings.Contains(keys, keyID) {
		t.Errorf("a revoked key is listed:\n%s", keys)
	}
	if toks := mustRun(t, "token", "list", "--project-dir", dir); strings.Contains(toks, tokID) {
		t.Errorf("a revoked token is listed:\n%s", toks)
	}
}
