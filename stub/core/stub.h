/* The stub's portable core: the command loop over SLIP frames. */
#ifndef ESPTOOLS_STUB_H
#define ESPTOOLS_STUB_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sends the greeting and serves commands forever. */
void stub_main(void);

/* Sends the greeting (what stub_main does first). */
void stub_greet(void);
/* Handles one complete request frame if one has arrived; false when none is waiting. */
bool stub_step(void);

/* Moves received bytes from the UART into the frame buffers; called wherever the stub waits. */
void stub_service_uart(void);

#ifdef __cplusplus
}
#endif

#endif
