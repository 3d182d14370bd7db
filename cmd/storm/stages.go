package storm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stage is one step of a closed-loop schedule: over Duration, the number of
// users moves linearly from the previous stage's Users (0 before the first)
// to Users, as k6's stages do.
type Stage struct {
	Duration time.Duration
	Users    int
}

// Stages is a schedule of users over time. Its text form, accepted by
// ParseStages and produced by String, is DURATION:USERS,...: 30s:50,1m:200,30s:0
// ramps from 0 to 50 users in 30s, on to 200 over a minute, and down to 0
// in 30s. A stage whose Users equals the previous one holds it.
type Stages []Stage

// ParseStages parses the text form of Stages.
func ParseStages(s string) (Stages, error) {
	bad := func(part, why string) (Stages, error) {
		return nil, fmt.Errorf("bad stage %q in %q: %s; want DURATION:USERS,... e.g. 30s:50,1m:200,30s:0", part, s, why)
	}
	var out Stages
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		ds, us, ok := strings.Cut(part, ":")
		if !ok {
			return bad(part, "no ':' between duration and users")
		}
		d, err := time.ParseDuration(ds)
		if err != nil || d <= 0 {
			return bad(part, "the duration must be positive, like 30s or 1m")
		}
		n, err := strconv.Atoi(us)
		if err != nil || n < 0 {
			return bad(part, "the users must be a whole number, 0 or more")
		}
		out = append(out, Stage{Duration: d, Users: n})
	}
	if out.Max() == 0 {
		return nil, fmt.Errorf("stages %q never have a user; give some stage a positive number of users", s)
	}
	return out, nil
}

// String returns the text form, which ParseStages accepts.
func (st Stages) String() string {
	parts := make([]string, len(st))
	for i, s := range st {
		parts[i] = s.Duration.String() + ":" + strconv.Itoa(s.Users)
	}
	return strings.Join(parts, ",")
}

// Duration returns the length of the schedule.
func (st Stages) Duration() time.Duration {
	var d time.Duration
	for _, s := range st {
		d += s.Duration
	}
	return d
}

// Max returns the most users the schedule asks for at once.
func (st Stages) Max() int {
	n := 0
	for _, s := range st {
		n = max(n, s.Users)
	}
	return n
}

// UsersAt returns how many users the schedule wants at t since its start,
// a fraction during a ramp; the last stage's Users after the end.
func (st Stages) UsersAt(t time.Duration) float64 {
	from := 0.0
	for _, s := range st {
		if t < s.Duration {
			return from + (float64(s.Users)-from)*float64(t)/float64(s.Duration)
		}
		t -= s.Duration
		from = float64(s.Users)
	}
	return from
}

// untilWanted returns how long after t the schedule first wants more than
// id users (0 if it does at t), or false if it never does again.
func (st Stages) untilWanted(id int, t time.Duration) (time.Duration, bool) {
	want := float64(id)
	if st.UsersAt(t) > want {
		return 0, true
	}
	var at time.Duration // the start of stage s
	from := 0.0
	for _, s := range st {
		to := float64(s.Users)
		end := at + s.Duration
		if end > t && to > want {
			// Within this stage the count rises through want (it is
			// at most want at its start, or at t).
			cross := at + time.Duration((want-from)/(to-from)*float64(s.Duration)) + time.Millisecond
			return max(cross, t) - t, true
		}
		at, from = end, to
	}
	return 0, false
}
