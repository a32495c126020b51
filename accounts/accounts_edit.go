package accounts

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"mailgate/internal/safefile"
)

// ErrNoAccount is returned when editing an account that does not exist.
var ErrNoAccount = errors.New("no such account")

// edit applies change to the accounts file under an exclusive lock, then
// writes it atomically, so two `mailgate user` commands cannot lose each
// other's changes and a running server never reads half a file.
func (a *Accounts) edit(change func(f *accountsFile) error) error {
	lock, err := os.OpenFile(a.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	var f accountsFile
	data, err := os.ReadFile(a.path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("%s: %v", a.path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := change(&f); err != nil {
		return err
	}
	out, err := yaml.Marshal(&f)
	if err != nil {
		return err
	}
	header := "# mailgate accounts: edit with `mailgate user`. Passwords are argon2id hashes.\n"
	if err := safefile.WriteFile(a.path, append([]byte(header), out...), 0o600); err != nil {
		return err
	}
	return a.reload()
}

func find(f *accountsFile, addr string) int {
	for i, acc := range f.Accounts {
		if strings.EqualFold(acc.Address, addr) {
			return i
		}
	}
	return -1
}

// Add creates an account with a password (hashed here).
func (a *Accounts) Add(acc Account, password string) error {
	if err := checkAddress(acc.Address); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	acc.Password = hash
	return a.edit(func(f *accountsFile) error {
		if find(f, acc.Address) >= 0 {
			return fmt.Errorf("account %s already exists; use `mailgate user passwd` to change its password", acc.Address)
		}
		for _, other := range f.Accounts {
			for _, al := range other.Aliases {
				if strings.EqualFold(al, acc.Address) {
					return fmt.Errorf("%s is already an alias of %s", acc.Address, other.Address)
				}
			}
		}
		f.Accounts = append(f.Accounts, acc)
		return nil
	})
}

// Delete removes an account (its stored mail is left in place).
func (a *Accounts) Delete(addr string) error {
	return a.edit(func(f *accountsFile) error {
		i := find(f, addr)
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNoAccount, addr)
		}
		f.Accounts = append(f.Accounts[:i], f.Accounts[i+1:]...)
		return nil
	})
}

// SetPassword replaces an account's password.
func (a *Accounts) SetPassword(addr, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return a.editAccount(addr, func(acc *Account) { acc.Password = hash })
}

// Update changes an account's aliases, send-as list and quota; nil lists
// and a negative quota are left as they are.
func (a *Accounts) Update(addr string, aliases, sendAs []string, quota int64) error {
	return a.editAccount(addr, func(acc *Account) {
		if aliases != nil {
			acc.Aliases = aliases
		}
		if sendAs != nil {
			acc.SendAs = sendAs
		}
		if quota >= 0 {
			acc.Quota = quota
		}
	})
}

// SetRateLimit gives an account its own sending limit; nil returns it to
// the configured one.
func (a *Accounts) SetRateLimit(addr string, rl *RateLimit) error {
	if rl != nil && !rl.Valid() {
		return fmt.Errorf("mailbox: rate limit %d messages, %d recipients per %v: counts must be 0 or more, and the period more than 0", rl.Messages, rl.Recipients, rl.Period)
	}
	return a.editAccount(addr, func(acc *Account) { acc.RateLimit = rl })
}

// SetDisabled turns an account's logins off or back on.
func (a *Accounts) SetDisabled(addr string, disabled bool) error {
	return a.editAccount(addr, func(acc *Account) { acc.Disabled = disabled })
}

// editAccount changes the account addr in accounts.yaml.
func (a *Accounts) editAccount(addr string, change func(*Account)) error {
	return a.edit(func(f *accountsFile) error {
		i := find(f, addr)
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNoAccount, addr)
		}
		change(&f.Accounts[i])
		return nil
	})
}

// checkAddress accepts local@domain with a plain local part.
func checkAddress(addr string) error {
	local, domain := SplitAddress(addr)
	if local == "" || domain == "" || strings.ContainsAny(local, " \t\r\n\"<>()[]\\,;:@/") || strings.Contains(local, "+") {
		return fmt.Errorf("%q is not a valid account address; write it as name@domain (without +tag)", addr)
	}
	return nil
}
