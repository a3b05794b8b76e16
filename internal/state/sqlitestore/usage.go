package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

// ReadUsage lists every counter of the state file db (opened with OpenDB)
// with something used in its window at now, ordered by key. It reads the
// file in one read transaction, beside any Store writing it (WAL readers
// never block writers), so it sees every process's charges and refunds as
// of that moment, and changes nothing. It takes a handle of its own rather
// than a Store's, whose pool is sized for its own connections.
func ReadUsage(ctx context.Context, db *sql.DB, now time.Time) ([]state.CounterUsage, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: usage: %w: %w", state.ErrUnavailable, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'entries'").Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlitestore: usage: %w: %w", state.ErrUnavailable, err)
	}
	if n == 0 {
		return nil, nil // no proxy has counted anything in this file yet
	}
	rows, err := tx.QueryContext(ctx, "SELECT name, at, res, idx, amount FROM entries ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: usage: %w: %w", state.ErrUnavailable, err)
	}
	defer rows.Close()
	counters := map[string]*ledger.Counter{}
	var order []string
	for rows.Next() {
		var (
			name, res string
			at        int64
			idx       int
			amount    sql.NullString
		)
		if err := rows.Scan(&name, &at, &res, &idx, &amount); err != nil {
			return nil, fmt.Errorf("sqlitestore: usage: %w: %w", state.ErrUnavailable, err)
		}
		c := counters[name]
		if c == nil {
			w, cal, locName, err := ledger.ParseID(name)
			if err != nil {
				continue // not a counter this code wrote
			}
			ch := state.Charge{Window: w}
			if cal {
				ch.Align = state.Calendar
				if ch.Location, err = time.LoadLocation(locName); err != nil {
					continue
				}
			}
			c = ledger.New(&ch)
			counters[name] = c
			order = append(order, name)
		}
		if !amount.Valid {
			c.Remove(res, idx) // a refund row
			continue
		}
		d, err := decimal.Parse(amount.String)
		if err != nil {
			continue
		}
		c.Load(at, &d, ledger.Tag{Res: res, Idx: idx})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: usage: %w: %w", state.ErrUnavailable, err)
	}
	var out []state.CounterUsage
	for _, name := range order {
		used, n := counters[name].UsageAt(now.UnixNano())
		if n == 0 && used.IsZero() {
			continue
		}
		u, err := ledger.Usage(name, used, n)
		if err != nil {
			continue
		}
		out = append(out, u)
	}
	state.SortUsage(out)
	return out, nil
}
