package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/http"
	"github.com/tandem-data/tandem/sqlite"
)

// The token and key commands work in the metadata store, which a running
// tandem serve shares: a revocation here is refused by the server within a
// second (its caches live 500 ms).

// tokenCommand manages API tokens (viewer, editor, admin).
func (a *app) tokenCommand() *cobra.Command {
	tok := &cobra.Command{Use: "token", Short: "Manage API tokens (viewer, editor, admin)"}
	var role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it once (only its hash is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ms, err := a.openProjectMeta()
			if err != nil {
				return err
			}
			defer ms.Close()
			t, secret, err := http.NewToken(name, role, time.Now())
			if err != nil {
				return err
			}
			if err := ms.CreateToken(cmd.Context(), t); err != nil {
				return err
			}
			ms.AddAudit(cmd.Context(), &tandem.AuditEntry{At: time.Now(), Actor: "cli:" + startedBy(), Action: "token.create", Target: t.ID, Detail: t.Name + " as " + t.Role})
			if a.output == "json" {
				return a.printJSON(map[string]any{"token": t, "secret": secret})
			}
			fmt.Fprintf(a.stdout, "%s\n", secret)
			fmt.Fprintf(a.stderr, "Token %s (%s, %s). Shown once: store it now. Use it as: Authorization: Bearer <token>\n", t.ID, t.Name, t.Role)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", tandem.RoleViewer, "viewer, editor or admin")
	create.Flags().StringVar(&name, "name", "", "who or what uses it")
	tok.AddCommand(create, a.listCredentials("list", "List API tokens (never their secrets)", false),
		a.revokeCredential("revoke TOKEN_ID", "Revoke an API token: refused everywhere within a second", false))
	return tok
}

// keyCommand manages the write keys of event sources (websites, apps,
// backends): they open the collector and nothing else.
func (a *app) keyCommand() *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Manage write keys of event sources"}
	var source string
	create := &cobra.Command{
		Use:   "create --source NAME",
		Short: "Create a write key for a source and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				return tandem.Errorf(tandem.EINVALID, "name the source: --source web")
			}
			_, ms, err := a.openProjectMeta()
			if err != nil {
				return err
			}
			defer ms.Close()
			t, secret, err := http.NewToken(source, tandem.RoleViewer, time.Now())
			if err != nil {
				return err
			}
			t.Role, t.ID = collect.WriteKeyRole, strings.Replace(t.ID, "tok_", "key_", 1)
			secret = strings.Replace(secret, "tdm_", "wk_", 1)
			t.Hash = http.HashToken(secret)
			if err := ms.CreateToken(cmd.Context(), t); err != nil {
				return err
			}
			ms.AddAudit(cmd.Context(), &tandem.AuditEntry{At: time.Now(), Actor: "cli:" + startedBy(), Action: "key.create", Target: t.ID, Detail: "source " + source})
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "Write key %s for source %q. Shown once. Segment SDKs take it as their writeKey; the HTTP API as the Basic user name.\n", t.ID, source)
			return nil
		},
	}
	create.Flags().StringVar(&source, "source", "", "the source that sends with it (web, ios, backend)")
	key.AddCommand(create, a.listCredentials("list", "List write keys and their sources (never their secrets)", true),
		a.revokeCredential("revoke KEY_ID", "Revoke a write key: the collector refuses it within a second", true))
	return key
}

// openTokens opens the metadata store and reads every token and write key;
// the caller closes the store.
func (a *app) openTokens(ctx context.Context) (*sqlite.MetaStore, []*tandem.Token, error) {
	_, ms, err := a.openProjectMeta()
	if err != nil {
		return nil, nil, err
	}
	all, err := ms.Tokens(ctx)
	if err != nil {
		ms.Close()
		return nil, nil, err
	}
	return ms, all, nil
}

// listCredentials lists write keys (keys) or API tokens (!keys).
func (a *app) listCredentials(use, short string, keys bool) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, all, err := a.openTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer ms.Close()
			list := []*tandem.Token{}
			for _, t := range all {
				if (t.Role == collect.WriteKeyRole) == keys {
					list = append(list, t)
				}
			}
			if a.output == "json" {
				return a.printJSON(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			if keys {
				fmt.Fprintln(tw, "ID\tSOURCE\tCREATED")
			} else {
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
			}
			for _, t := range list {
				if keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339))
				} else {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedAt.Format(time.RFC3339))
				}
			}
			return tw.Flush()
		},
	}
}

// revokeCredential revokes one write key (keys) or API token (!keys).
func (a *app) revokeCredential(use, short string, keys bool) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, all, err := a.openTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer ms.Close()
			what, list := "token", "tandem token list"
			if keys {
				what, list = "write key", "tandem key list"
			}
			for _, t := range all {
				if t.ID != args[0] {
					continue
				}
				if (t.Role == collect.WriteKeyRole) != keys {
					other := "tandem key revoke"
					if keys {
						other = "tandem token revoke"
					}
					return tandem.Errorf(tandem.EINVALID, "%s is not a %s; revoke it with `%s %s`", t.ID, what, other, t.ID)
				}
				if err := ms.DeleteToken(cmd.Context(), t.ID); err != nil {
					return err
				}
				action := "token.delete"
				if keys {
					action = "key.delete"
				}
				ms.AddAudit(cmd.Context(), &tandem.AuditEntry{At: time.Now(), Actor: "cli:" + startedBy(), Action: action, Target: t.ID, Detail: t.Name})
				fmt.Fprintf(a.stderr, "Revoked %s %s (%s); a running tandem serve refuses it within a second.\n", what, t.ID, t.Name)
				return nil
			}
			return tandem.Errorf(tandem.ENOTFOUND, "no %s %s; `%s` lists them", what, args[0], list)
		},
	}
}
