package als

import (
	"fmt"
	"slices"
)

// String ids. ALS trains on integer ids; data whose ids are strings (UUIDs,
// SKUs) is mapped to dense integers first: SortKeys lists the distinct
// names in increasing byte order and the id of a name is its position
// there (KeyID), so the mapping depends only on the set of names, never on
// their order or on how the data was partitioned. After Fit, SetKeys
// stores the names with the model, and UserByKey, ItemByKey and the key
// fields turn names into ids and back.

// SortKeys returns the distinct names in increasing byte order (a new
// slice; names is not modified). The id of name SortKeys(names)[i] is i.
func SortKeys(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// KeyID returns the id of name in keys, as SortKeys returned them: its
// position, or false when keys do not hold it.
func KeyID(keys []string, name string) (int64, bool) {
	p, ok := slices.BinarySearch(keys, name)
	return int64(p), ok
}

// SetKeys records the names the model's integer ids stand for: users[id]
// names user id and items[id] item id (the SortKeys lists the ids were
// drawn from). Every id of the model must index its list. A nil list
// leaves that side's ids integers (a side may be named and the other not).
func (m *Model) SetKeys(users, items []string) error {
	uk, err := namesOf("user", m.UserIDs, users)
	if err != nil {
		return err
	}
	ik, err := namesOf("item", m.ItemIDs, items)
	if err != nil {
		return err
	}
	m.UserKeys, m.ItemKeys = uk, ik
	return nil
}

func namesOf(side string, ids []int64, names []string) ([]string, error) {
	if names == nil {
		return nil, nil
	}
	out := make([]string, len(ids))
	for p, id := range ids {
		if id < 0 || id >= int64(len(names)) {
			return nil, fmt.Errorf("als: SetKeys: %s id %d is not a position in the %d %s names", side, id, len(names), side)
		}
		out[p] = names[id]
	}
	return out, nil
}

// UserByKey returns the id of the user named name, or false when training
// saw no such user (or the model has no names).
func (m *Model) UserByKey(name string) (int64, bool) { return byKey(m.UserKeys, m.UserIDs, name) }

// ItemByKey returns the id of the item named name, or false.
func (m *Model) ItemByKey(name string) (int64, bool) { return byKey(m.ItemKeys, m.ItemIDs, name) }

func byKey(keys []string, ids []int64, name string) (int64, bool) {
	p, ok := slices.BinarySearch(keys, name)
	if !ok {
		return 0, false
	}
	return ids[p], true
}

// ItemKey returns the name of item id, or false when the model has no
// names or no such item.
func (m *Model) ItemKey(id int64) (string, bool) {
	p, ok := m.itemPos(id)
	if !ok || m.ItemKeys == nil {
		return "", false
	}
	return m.ItemKeys[p], true
}

// checkKeys checks that the names of each side, when present, name every
// id of that side in order.
func (m *Model) checkKeys() error {
	for _, side := range []struct {
		name string
		keys []string
		n    int
	}{{"user", m.UserKeys, len(m.UserIDs)}, {"item", m.ItemKeys, len(m.ItemIDs)}} {
		if side.keys == nil {
			continue
		}
		if len(side.keys) != side.n {
			return fmt.Errorf("als: malformed model: %d %s names for %d %ss", len(side.keys), side.name, side.n, side.name)
		}
		for i := 1; i < len(side.keys); i++ {
			if side.keys[i] <= side.keys[i-1] {
				return fmt.Errorf("als: malformed model: %s names not increasing at position %d (%q after %q)", side.name, i, side.keys[i], side.keys[i-1])
			}
		}
	}
	return nil
}
