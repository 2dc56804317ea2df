/* The compiler emits calls to these for struct copies and array initialisers even in freestanding
 * code; the stub has no C library. */
#include <stddef.h>
#include <stdint.h>

void *memset(void *destination, int value, size_t length) {
    uint8_t *d = destination;
    while (length--) *d++ = (uint8_t)value;
    return destination;
}

void *memcpy(void *destination, const void *source, size_t length) {
    uint8_t *d = destination;
    const uint8_t *s = source;
    while (length--) *d++ = *s++;
    return destination;
}
