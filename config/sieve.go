package config

// Sieve configures the filter scripts users run at local delivery
// (<data_dir>/sieve) and the ManageSieve server that edits them.
type Sieve struct {
	// Enabled runs each account's active script at local delivery.
	Enabled bool `yaml:"enabled"`
	// MaxScriptSize bounds one script's source.
	MaxScriptSize Size `yaml:"max_script_size"`
	// MaxScripts bounds the scripts one account may store.
	MaxScripts int `yaml:"max_scripts"`
	// MaxActions bounds the actions one run may ask for.
	MaxActions int `yaml:"max_actions"`
	// MaxRedirects bounds the forwards one message may get per account.
	MaxRedirects int `yaml:"max_redirects"`
	// MaxSteps bounds the commands, tests and comparisons of one run.
	MaxSteps int `yaml:"max_steps"`
	// RunTimeout bounds one run's time; past it the message is kept.
	RunTimeout Duration `yaml:"run_timeout"`
}

func defaultSieve() Sieve {
	return Sieve{Enabled: true, MaxScriptSize: 64 << 10, MaxScripts: 16, MaxActions: 32, MaxRedirects: 4,
		MaxSteps: 200000, RunTimeout: Duration(1e9)}
}

func (s *Sieve) validate(v *Validator) {
	if s.MaxScriptSize < 64 || s.MaxScriptSize > 1<<20 {
		v.Errorf("sieve.max_script_size", "%d bytes is outside 64 to 1MB; write a size such as 64KB", s.MaxScriptSize)
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"max_scripts", s.MaxScripts}, {"max_actions", s.MaxActions}, {"max_redirects", s.MaxRedirects}, {"max_steps", s.MaxSteps}} {
		if f.n < 1 {
			v.Errorf("sieve."+f.key, "%d is not allowed; write a number of 1 or more", f.n)
		}
	}
	if s.RunTimeout.D() < 10e6 {
		v.Errorf("sieve.run_timeout", "must be at least 10ms; write a duration such as 1s")
	}
}
