package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// The writer talks to modernc.org/sqlite's connection through the
// database/sql/driver interfaces, inside one sql.Conn.Raw per transaction,
// instead of through database/sql: that skips, for every statement,
// database/sql's locking, argument conversion and result wrapping, and the
// data version is read with a file control instead of a PRAGMA statement.
// Statements are prepared once and live as long as the writer.

// rawConn is what the writer needs of the driver's connection.
type rawConn interface {
	driver.ConnPrepareContext
	// FileControlDataVersion is SQLITE_FCNTL_DATA_VERSION: a counter
	// that changes whenever the file changes, by a commit of this
	// connection or (noticed when this connection next begins a
	// transaction) of any other connection or process.
	FileControlDataVersion(dbName string) (uint32, error)
}

// rawStmt is what the writer needs of a prepared statement.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

var errDriver = errors.New("the sqlite driver's connection lacks a method the store needs")

// asRaw returns the driver's connection as a rawConn.
func asRaw(dc any) (rawConn, error) {
	c, ok := dc.(rawConn)
	if !ok {
		return nil, fmt.Errorf("%w (%T)", errDriver, dc)
	}
	return c, nil
}

// prepareRaw prepares q on c.
func prepareRaw(ctx context.Context, c rawConn, q string) (rawStmt, error) {
	st, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	rs, ok := st.(rawStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("prepare %q: %w (%T)", q, errDriver, st)
	}
	return rs, nil
}

// execRaw runs st with args.
func execRaw(ctx context.Context, st rawStmt, args []driver.NamedValue) error {
	_, err := st.ExecContext(ctx, args)
	return err
}

// queryRaw runs st with args and calls row for each row (dest holds its
// columns, valid until row returns); it stops early when row returns
// false.
func queryRaw(ctx context.Context, st rawStmt, args []driver.NamedValue, dest []driver.Value, row func(dest []driver.Value) (bool, error)) error {
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		return err
	}
	for {
		if err := rows.Next(dest); err != nil {
			rows.Close()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		more, err := row(dest)
		if err != nil || !more {
			rows.Close()
			return err
		}
	}
}

// ordinal returns args with each value numbered as the statement's
// positional parameter it fills.
func ordinal(args []driver.NamedValue, values ...driver.Value) []driver.NamedValue {
	for i, v := range values {
		args = append(args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return args
}

// Column readers: SQLite hands an INTEGER column back as int64, TEXT as
// string, NULL as nil.

// cols reads one result row's columns, keeping the first error.
type cols struct {
	dest []driver.Value
	err  error
}

func (c *cols) int(i int) int64 {
	v, err := colInt(c.dest[i])
	if c.err == nil {
		c.err = err
	}
	return v
}

func (c *cols) text(i int) string {
	v, err := colText(c.dest[i])
	if c.err == nil {
		c.err = err
	}
	return v
}

func colInt(v driver.Value) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("read column: got %T, want an integer", v)
}

func colText(v driver.Value) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	}
	return "", fmt.Errorf("read column: got %T, want text", v)
}
