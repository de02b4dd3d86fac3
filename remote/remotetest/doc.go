// Package remotetest holds test doubles for remote.Host, for tests only.
//
// [Fake] is a recording remote.Host with a model file system: files with
// content, mode, owner and modification time (hard links share them, as
// inodes do), directories and free space per directory. Commands run
// through a small shell that understands what edgectl's fleet tools send
// to hosts: statements separated by newlines, ";", "&&" and "||", "set
// -e", single-quoted words as remote.ShellQuote writes them, redirections
// to files or /dev/null, and the file utilities (cat, mv, ln, rm, chown,
// chmod, mkdir, install -d, sha256sum, stat -c, df -Pk, find -maxdepth 1,
// test, date +%s, uname -m). Any other program is answered by a handler
// the test registers (systemctl, journalctl, the edgectl binary), so the
// test scripts exactly what the host says. Every command and file
// operation is logged, and failures (a full disk, a command that exits
// non-zero, a connection that breaks) can be injected at any operation.
//
// [Rooted] moves every absolute path of a real remote.Host under a
// directory, so several "hosts" can share one machine in tests.
package remotetest
