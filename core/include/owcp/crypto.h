/*
 * owcp/crypto.h — the whole crypto module of libowcp-core in one include:
 * keys and certificates (keys.h), CSRs and the dispatcher's CA (ca.h), and
 * signed receipts (receipt.h). See each header for its contract.
 */
#ifndef OWCP_CRYPTO_H
#define OWCP_CRYPTO_H

#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"

#endif
