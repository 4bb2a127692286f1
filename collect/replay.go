package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ReplayResult says what a replay did.
type ReplayResult struct {
	Replayed    int `json:"replayed"`    // now valid: appended to the log as events
	Quarantined int `json:"quarantined"` // still breaking the plan: left in quarantine
}

// Replay checks the quarantined messages not yet replayed against the
// current plan (after a fix). Those that pass are appended to the log as
// events, with their source and time of arrival, and marked replayed; the
// loader then loads them like any event. The others stay quarantined.
func (l *Loader) Replay(ctx context.Context) (*ReplayResult, error) {
	s := q(l.Schema)
	// Messages whose id was loaded as an event already (an earlier replay
	// that stopped before marking them) are not sent again.
	rows, err := l.Warehouse.Query(ctx, fmt.Sprintf(`select "offset", source, epoch_us(received_at), raw::VARCHAR, coalesce(type, '')
		from %s.quarantine q where not replayed
		and not exists (select 1 from %s.events e where e.message_id = (q.raw->>'messageId'))
		order by "offset"`, s, s), 0)
	if err != nil {
		return nil, err
	}
	plan := l.Plan()
	res := &ReplayResult{}
	var records [][]byte
	var offsets []string
	for _, r := range rows.Rows {
		us, _ := strconv.ParseInt(fmt.Sprint(r[2]), 10, 64)
		received := time.UnixMicro(us).UTC()
		raw := json.RawMessage(fmt.Sprint(r[3]))
		kind := fmt.Sprint(r[4])
		if kind == "" {
			kind = "batch"
		}
		ev, parsed, v := normalizeRaw(raw, kind, received)
		var violations []Violation
		if v != nil {
			violations = []Violation{*v}
		} else if ev.Type == "track" {
			violations = plan.Validate(ev.Event, parsed.Get("properties"))
		}
		if len(violations) > 0 {
			res.Quarantined++
			continue
		}
		b, err := json.Marshal(&Envelope{Kind: "event", Source: fmt.Sprint(r[1]), ReceivedAt: received, Event: ev, Raw: raw})
		if err != nil {
			return nil, err
		}
		records = append(records, b)
		offsets = append(offsets, fmt.Sprint(r[0]))
		res.Replayed++
	}
	if len(records) == 0 {
		return res, nil
	}
	if _, err := l.Log.Append(ctx, records); err != nil {
		return nil, err
	}
	_, err = l.Warehouse.Exec(ctx, fmt.Sprintf(`update %s.quarantine set replayed = true where "offset" in (%s)`, s, strings.Join(offsets, ", ")))
	return res, err
}
