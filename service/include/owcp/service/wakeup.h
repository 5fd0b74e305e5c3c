/*
 * owcp/service/wakeup.h — suspending a request while another thread
 * works for it, and resuming it when that work is done, without the race
 * libmicrohttpd leaves to its users: MHD_resume_connection() on a
 * connection that is not (yet) suspended is an error, and a connection
 * must never be touched after libmicrohttpd completed it. A handler that
 * hands work to another thread:
 *
 *   w = svc_wakeup_new(req->con);        // the request holds one reference
 *   svc_wakeup_ref(w); give w to the worker;
 *   if (svc_wakeup_suspend(w)) return MHD_YES;   // worker fires later
 *   else handle the result now (it was ready before the suspension)
 *
 * The worker calls svc_wakeup_fire(w) then svc_wakeup_unref(w); the
 * request calls svc_wakeup_detach(w) and svc_wakeup_unref(w) when it
 * completes (its app_free), after which fire() touches nothing. The
 * service layer calls the route handler again after the resume.
 * Thread-safe; every function but svc_wakeup_new accepts NULL.
 */
#ifndef OWCP_SERVICE_WAKEUP_H
#define OWCP_SERVICE_WAKEUP_H

#include <microhttpd.h>
#include <stdbool.h>

struct svc_wakeup;

/* One reference, for the caller. NULL when out of memory. */
struct svc_wakeup *svc_wakeup_new(struct MHD_Connection *con);

void svc_wakeup_ref(struct svc_wakeup *w);

/* Drops a reference; the last one frees. */
void svc_wakeup_unref(struct svc_wakeup *w);

/* From the handler (libmicrohttpd's thread): suspends the connection
 * unless svc_wakeup_fire() already ran, and returns true; false means
 * "fired already: answer now". */
bool svc_wakeup_suspend(struct svc_wakeup *w);

/* From any thread: marks the work done and resumes the connection if it
 * is suspended (and still attached). Idempotent. */
void svc_wakeup_fire(struct svc_wakeup *w);

/* True once svc_wakeup_fire() ran. */
bool svc_wakeup_fired(struct svc_wakeup *w);

/* The request completes: forget the connection. */
void svc_wakeup_detach(struct svc_wakeup *w);

#endif
