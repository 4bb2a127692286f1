// Package pipeline runs the nodes of a project against a Warehouse: it
// materializes models and seeds, runs tests, publishes tables atomically,
// keeps earlier versions for rollback, retries transient failures and
// records every run in the MetaStore.
//
// It must never leave a half-written table visible: every table is built
// under a staging name and swapped in, in one transaction, only on success.
package pipeline
