package collect

import (
	"crypto/sha256"
	"encoding/hex"
)

// hashKey is how write keys are stored (as API tokens are).
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
