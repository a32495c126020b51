package relay

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer implements the obsolete but widely used AUTH LOGIN
// mechanism (draft-murchison-sasl-login), which go-sasl dropped: many
// applications and Outlook still offer only it.
type loginServer struct {
	step         int
	username     string
	authenticate func(username, password string) error
}

func newLoginServer(auth func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: auth}
}

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		if len(response) == 0 { // no initial response: ask for the user name
			return []byte("Username:"), false, nil
		}
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.authenticate(s.username, string(response))
	}
	return nil, true, errors.New("unexpected response")
}
