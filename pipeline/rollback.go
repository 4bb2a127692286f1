package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandem-data/tandem"
)

// Rollback makes a kept version of a table live again, in one transaction.
// The table it replaces becomes a kept version itself, so a rollback can be
// undone with another. version 0 means the newest kept version.
func (r *Runner) Rollback(ctx context.Context, n *tandem.Node, version int) (*tandem.TableVersion, error) {
	versions, err := r.Meta.TableVersions(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s has no earlier version to roll back to (versions are kept for table models and seeds; keep_versions in tandem.yaml is %d)", n.Name, r.KeepVersions)
	}
	var target *tandem.TableVersion
	if version == 0 {
		target = versions[0]
	}
	var have []string
	for _, v := range versions {
		if v.Version == version {
			target = v
		}
		have = append(have, fmt.Sprint(v.Version))
	}
	if target == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s has no version %d; kept versions: %s", n.Name, version, strings.Join(have, ", "))
	}
	schema, name := r.Project.SchemaOf(n), n.Relation()
	_, storedName, _ := strings.Cut(target.Stored, ".")
	next := versions[0].Version + 1
	displaced := fmt.Sprintf("%s%s%d", name, versionSuffix, next)
	kind, err := r.Warehouse.RelationKind(ctx, schema, name)
	if err != nil {
		return nil, err
	}
	var liveRows int64
	if kind == "table" {
		if liveRows, err = count(ctx, r.Warehouse, rel(schema, name)); err != nil {
			return nil, err
		}
	}
	err = r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		switch kind {
		case "table":
			if _, err := tx.Exec(ctx, fmt.Sprintf("alter table %s rename to %s", rel(schema, name), q(displaced))); err != nil {
				return err
			}
		case "view":
			if _, err := tx.Exec(ctx, "drop view "+rel(schema, name)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, fmt.Sprintf("alter table %s rename to %s", rel(schema, storedName), q(name)))
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := r.Meta.DeleteTableVersion(ctx, n.ID, target.Version); err != nil {
		return nil, err
	}
	if kind == "table" {
		if err := r.Meta.AddTableVersion(ctx, &tandem.TableVersion{Node: n.ID, Relation: schema + "." + name, Version: next,
			Stored: schema + "." + displaced, RunID: "rollback", CreatedAt: r.Clock(), Rows: liveRows}); err != nil {
			return nil, err
		}
	}
	return target, nil
}
