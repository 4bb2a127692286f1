package ml

// Batch scores users with one version of a recommender by the rules the
// API serves with, so that a batch file and a live answer for the same user
// agree: a user the version does not know is answered by the spec's
// fallback model (its production version), which recommends for the user
// if it knows them and else gives its most popular items; without a
// fallback model, the version's own most popular items. Each answer names
// the model and version that gave it.
type Batch struct {
	model *loaded
	fb    *loaded // nil: the model's own popular items
}

// Batch loads version (0: production) of the recommender name and its
// fallback model's production version.
func (s *Service) Batch(name string, version int) (*Batch, error) {
	spec, err := s.Spec(name)
	if err != nil {
		return nil, err
	}
	v, err := s.Registry.Version(name, version)
	if err != nil {
		return nil, err
	}
	art, err := s.Registry.Artifact(name, v.Version)
	if err != nil {
		return nil, err
	}
	b := &Batch{model: &loaded{name: name, version: v.Version, art: art}}
	if spec.Fallback != "" {
		al, err := s.Registry.Aliases(spec.Fallback)
		if err != nil {
			return nil, err
		}
		if al.Production > 0 {
			fart, err := s.Registry.Artifact(spec.Fallback, al.Production)
			if err != nil {
				return nil, err
			}
			b.fb = &loaded{name: spec.Fallback, version: al.Production, art: fart}
		}
	}
	return b, nil
}

// Version is the version that scores known users.
func (b *Batch) Version() int { return b.model.version }

// Recommend answers one user.
func (b *Batch) Recommend(user string, k int, excludeSeen bool) *Answer {
	if items, ok := b.model.art.Recommend(user, k, excludeSeen, nil); ok {
		return &Answer{Model: b.model.name, Version: b.model.version, Items: items}
	}
	fb := b.fb
	if fb == nil {
		fb = b.model
	}
	return unknownUser(fb, b.model.name, "unknown_user", user, k, excludeSeen, nil)
}
