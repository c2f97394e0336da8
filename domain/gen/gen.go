// Package gen generates synthetic conjugal-violence case files, deterministic
// from a seed, by driving realistic case lives through domain.Decide: a call,
// the intervention, the parties, risk assessments with real instrument names
// and bands, referrals accepted and declined, follow-ups done and missed,
// conditions and breaches, corrections, closures and reopenings.
//
// Every command it produces has been accepted by Decide on the state before
// it; a refusal is a bug in the generator and is returned as an error, never
// skipped. Benchmarks, demos and property tests all use it. Names, addresses
// and phone numbers it makes up are fictitious.
package gen

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// Step is one accepted decision: the command, the recording time it was
// decided at, and the events it produced.
type Step struct {
	Command domain.Command
	Now     time.Time
	Events  []domain.Event
}

// Case is one generated case life.
type Case struct {
	ID    uuid.UUID
	Steps []Step
	State domain.State // the state after the last step
}

// Events returns every event of the case in order.
func (c Case) Events() []domain.Event {
	var out []domain.Event
	for _, s := range c.Steps {
		out = append(out, s.Events...)
	}
	return out
}

// Epoch is when the first generated case may start.
// It lies far enough in the past that every generated life, however long,
// ends before today: caseledger refuses events that have not happened yet.
var Epoch = time.Date(2022, 1, 3, 8, 0, 0, 0, time.UTC)

// Generator makes cases. It is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	persons []string             // master-name-index ids seen, for repeat victimisation
	byVict  map[string]uuid.UUID // last case of a victim person id
	n       int
}

// New returns a generator whose output depends only on seed.
func New(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), byVict: map[string]uuid.UUID{}}
}

// Cases returns n cases.
func (g *Generator) Cases(n int) ([]Case, error) {
	out := make([]Case, 0, n)
	for range n {
		c, err := g.Case()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// life holds one case being generated.
type life struct {
	g       *Generator
	c       Case
	clock   time.Time
	officer domain.Actor
	worker  domain.Actor
	super   domain.Actor
	cad     domain.Actor
	victim  uuid.UUID
	suspect uuid.UUID
	vPerson string
	cond    uuid.UUID
	notes   []uuid.UUID // event ids of notes, for corrections
	err     error       // the first refusal; every later step is skipped
}

var (
	policeAgency = "police-lavallee"
	partners     = map[domain.Destination]string{
		"shelter": "shelter-maison-aube", "cavac": "cavac-lavallee", "aggressor_programme": "prog-option-hommes",
		"health_social_services": "cisss-lavallee", "youth_protection": "dpj-lavallee", "helpline": "helpline-sos", "legal_aid": "legal-aid-lavallee",
	}
)

// Case generates the next case.
func (g *Generator) Case() (Case, error) {
	g.n++
	start := Epoch.Add(time.Duration(g.rng.Int64N(int64(365 * 24 * time.Hour))))
	l := &life{
		g:       g,
		clock:   start,
		officer: domain.Actor{UserID: fmt.Sprintf("off-%04d", g.rng.IntN(400)), Role: domain.RoleOfficer, Agency: policeAgency},
		worker:  domain.Actor{UserID: fmt.Sprintf("sw-%02d", g.rng.IntN(12)), Role: domain.RoleSocialWorker, Agency: policeAgency},
		super:   domain.Actor{UserID: fmt.Sprintf("sup-%02d", g.rng.IntN(4)), Role: domain.RoleSupervisor, Agency: policeAgency},
		cad:     domain.Actor{UserID: "cad", Role: domain.RoleSystem, Agency: policeAgency},
	}
	l.c.ID = g.id(start)
	l.run()
	return l.c, l.err
}

// id returns a uuid v7 for time at whose random bits come from the seed.
func (g *Generator) id(at time.Time) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], g.rng.Uint64())
	binary.BigEndian.PutUint64(u[0:], g.rng.Uint64())
	ms := uint64(at.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | (u[6] & 0x0f)
	u[8] = 0x80 | (u[8] & 0x3f)
	return u
}

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

func pick[T any](g *Generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) hash() string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
	}
	return hex.EncodeToString(b[:])
}

// person returns a master-name-index id; some victims come back.
func (g *Generator) person(repeat float64) string {
	if len(g.persons) > 0 && g.chance(repeat) {
		return g.persons[g.rng.IntN(len(g.persons))]
	}
	p := fmt.Sprintf("MNI-%07d", g.rng.IntN(10_000_000))
	g.persons = append(g.persons, p)
	return p
}

// wait moves the case clock forward by a random duration between lo and hi.
func (l *life) wait(lo, hi time.Duration) {
	l.clock = l.clock.Add(lo + time.Duration(l.g.rng.Int64N(int64(hi-lo)+1)))
}

func (l *life) hdr(a domain.Actor) domain.CommandHeader {
	src := "records"
	switch a.Role {
	case domain.RoleSystem:
		src = "cad"
	case domain.RoleSocialWorker, domain.RoleSupervisor:
		src = "sw-app"
	case domain.RolePartner:
		src = "partner-portal"
	}
	return domain.CommandHeader{CaseID: l.c.ID, CommandID: l.g.id(l.clock), Actor: a, OccurredAt: l.clock, SourceSystem: src}
}

// do decides cmd on the current state, records it, and advances the clock a
// little. The recording time trails the real-world time by up to 20 minutes.
// After a refusal it does nothing: the life stops there and Case returns the
// refusal.
func (l *life) do(cmd domain.Command) []domain.Event {
	if l.err != nil {
		return nil
	}
	now := cmd.Head().OccurredAt.Add(time.Duration(l.g.rng.Int64N(int64(20 * time.Minute))))
	events, err := domain.Decide(l.c.State, cmd, now)
	if err != nil {
		l.err = fmt.Errorf("gen: case %d step %d (%s): %w", l.g.n, len(l.c.Steps), domain.CommandName(cmd), err)
		return nil
	}
	for _, e := range events {
		l.c.State = domain.Evolve(l.c.State, e)
	}
	l.c.Steps = append(l.c.Steps, Step{Command: cmd, Now: now, Events: events})
	l.wait(time.Minute, 15*time.Minute)
	return events
}
