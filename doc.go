// Package tandem holds the domain of the Tandem data platform: the things
// users talk about (nodes of a project, runs, table versions) and the ports
// that have more than one implementation (Warehouse, MetaStore).
//
// It must never import an adapter: adapters (duckdb/, sqlite/) import it and
// speak only these types. Everything is wired together in cmd/tandem.
package tandem
