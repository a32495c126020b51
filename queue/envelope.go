package queue

// validID guards file names built from IDs given on the command line.
func validID(id string) bool {
	if len(id) != 19 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
