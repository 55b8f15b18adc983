// Package fsx holds the local-file-system side of fsxsync: the mapping between object keys and local paths,
// the FSx for Lustre POSIX metadata format, atomic file replacement for downloads, and a parallel walk that
// lists a local tree in S3 key order.
//
// Everything here is written for POSIX systems (Linux in particular, where FSx for Lustre is mounted): file names
// are arbitrary bytes except '/' and NUL, and a name is at most 255 bytes long.
package fsx
