// Package storetest opens real encrypted stores in a test's temp directory, for the unit
// tests of the packages that keep records in node/store.
package storetest
