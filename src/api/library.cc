// The shared library's own translation unit: the public API's code lives in
// amanuensis_core (src/api/amanuensis.cc), linked in whole.
#include "amanuensis/amanuensis.h"
