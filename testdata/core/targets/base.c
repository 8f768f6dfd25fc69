/* Target: exactly the local types. Every relocation resolves to the
 * value the compiler computed. */
#include "gen.h"
