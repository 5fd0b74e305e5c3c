/*
 * log_head.h — the dispatcher's signed log heads (spec §10): every
 * log_head_interval seconds (the sweeper thread) and once more at shutdown
 * the process signs the confirmation log's chain tip with its signing key
 * (loghead.h has the document), keeps the newest for GET {base}/Log-Head
 * and appends each to log_head_file, outside the database.
 *
 * With several processes on one database each signs the tip it reads (two
 * may sign the same position) and serves its own newest head; each writes
 * its configured file (processes on one host may share one: one O_APPEND
 * write per head). Any of these heads proves the log reached that point.
 */
#ifndef OWCP_DISPATCHER_LOG_HEAD_H
#define OWCP_DISPATCHER_LOG_HEAD_H

#include "context.h"

/* Prepares d's head state (the lock). 0, or -1 with err. */
int log_head_init(struct dispatcher *d, struct owcp_error *err);

/* Releases d's head state; safe when log_head_init never ran. */
void log_head_fini(struct dispatcher *d);

/* Reads the chain tip through st, signs it, keeps it as the newest head
 * and appends it to the head file. 0, -1 or STORE_UNAVAILABLE with err. */
int log_head_sign(struct dispatcher *d, struct store *st,
                  struct owcp_error *err);

/* At shutdown, after the HTTP front stopped: seals what is left and signs
 * the final head (failures are logged). */
void log_head_final(struct dispatcher *d);

#endif
