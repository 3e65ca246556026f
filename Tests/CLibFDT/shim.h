// libfdt (Debian's libfdt-dev), for host tests that check Swiftlet's device-tree reader against it.
#include <libfdt.h>
