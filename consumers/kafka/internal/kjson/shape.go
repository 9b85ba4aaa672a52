package kjson

// Producers write message after message alike: the same fields in the same order, with the same white space
// and the same quoting. A struct node keeps the layout of the last object it read whole, as the bytes between
// its values (the gaps: `"id": `, `, "customer": `, …, `}`), and reads the next object by checking each gap in
// two 8-byte comparisons and then the value, instead of skipping white space and matching the comma, the key
// and the colon one by one. Where a gap differs, the general loop goes on from the value before it, so any
// object is read exactly as the general loop alone reads it; the next object read whole is learnt instead.

// shape is a struct node's layout of objects.
type shape struct {
	ok      bool
	members []shapeMember
	end     literal // from the last value to the closing brace, inclusive
	absent  []int   // the children the layout does not have: null in every object that matches it
	buf     []byte  // the gaps' bytes (the literals point into it)
}

type shapeMember struct {
	gap   literal // from the end of the value before (or the opening brace) to the start of this one
	child int     // the field's child, -1 for a member not in the schema or a repeated one (skipped)
	node  *Column // the child, nil when skipped
}

// shapeRec is where a member of the object being read starts (its gap) and where its value starts.
type shapeRec struct {
	gap, value, child int
}

// shaped reads an object after its '{' laid out as n.shape. matched counts the members whose values it appended
// (the last one may have failed). done: the object is read, or failed in a value (err); otherwise s.pos is where
// a gap differs — right after the last matched value, or at the object's start when matched is 0.
func (n *Column) shaped(s *jscan, depth int) (matched int, done bool, err error) {
	b, sh := s.b, &n.shape
	pos := s.pos
	for k := range sh.members {
		m := &sh.members[k]
		if !m.gap.at(b, pos) {
			s.pos = pos
			return k, false, nil
		}
		pos += len(m.gap.q)
		c := m.node
		if c != nil && c.sc != nil && pos < len(b) && b[pos] == '"' { // a string, member's first case, without its calls
			if end, ok := c.sc.appendJSON(b, pos); ok {
				pos = end
				continue
			}
		}
		s.pos = pos
		if c == nil {
			err = s.skip(nil, depth+1)
		} else {
			err = c.member(s, depth)
		}
		if err != nil {
			return k + 1, true, err
		}
		pos = s.pos
	}
	s.pos = pos
	if !sh.end.at(b, pos) {
		return len(sh.members), false, nil
	}
	s.pos = pos + len(sh.end.q)
	return len(sh.members), true, nil
}

// learnShape makes n.rec, the layout of the object just read whole from b, ending at end, the node's shape.
func (n *Column) learnShape(b []byte, end int) {
	sh := &n.shape
	sh.buf = sh.buf[:0]
	last := len(n.rec) - 1 // the last record is the closing gap's start
	for _, r := range n.rec[:last] {
		sh.buf = append(sh.buf, b[r.gap:r.value]...)
	}
	sh.buf = append(sh.buf, b[n.rec[last].gap:end]...)
	sh.members = sh.members[:0]
	off := 0
	for _, r := range n.rec[:last] {
		l := r.value - r.gap
		m := shapeMember{gap: newLiteral(sh.buf[off : off+l : off+l]), child: r.child}
		if r.child >= 0 {
			m.node = n.children[r.child]
		}
		sh.members = append(sh.members, m)
		off += l
	}
	sh.end = newLiteral(sh.buf[off:])
	sh.absent = sh.absent[:0]
	for i, g := range n.seen { // the fields the object had are those it saw
		if g != n.gen {
			sh.absent = append(sh.absent, i)
		}
	}
	sh.ok = true
}
