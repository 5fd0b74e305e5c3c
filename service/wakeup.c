/*
 * wakeup.c — suspend and resume a request across threads (wakeup.h). One
 * mutex orders the handler's suspension against another thread's fire,
 * so a resume never precedes its suspension and a fired wakeup is never
 * suspended.
 */
#include "owcp/service/wakeup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct svc_wakeup {
  pthread_mutex_t lock;
  atomic_int refs;
  struct MHD_Connection *con; /* NULL once detached */
  bool suspended, fired;
};

struct svc_wakeup *svc_wakeup_new(struct MHD_Connection *con)
{
  struct svc_wakeup *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  if (pthread_mutex_init(&w->lock, NULL) != 0) {
    free(w);
    return NULL;
  }
  atomic_init(&w->refs, 1);
  w->con = con;
  return w;
}

void svc_wakeup_ref(struct svc_wakeup *w)
{
  if (w != NULL)
    atomic_fetch_add(&w->refs, 1);
}

void svc_wakeup_unref(struct svc_wakeup *w)
{
  if (w == NULL || atomic_fetch_sub(&w->refs, 1) != 1)
    return;
  pthread_mutex_destroy(&w->lock);
  free(w);
}

bool svc_wakeup_suspend(struct svc_wakeup *w)
{
  if (w == NULL)
    return false;
  pthread_mutex_lock(&w->lock);
  bool suspend = !w->fired && w->con != NULL && !w->suspended;
  if (suspend) {
    w->suspended = true;
    MHD_suspend_connection(w->con);
  }
  pthread_mutex_unlock(&w->lock);
  return suspend;
}

void svc_wakeup_fire(struct svc_wakeup *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->fired = true;
  if (w->suspended && w->con != NULL) {
    w->suspended = false;
    MHD_resume_connection(w->con);
  }
  pthread_mutex_unlock(&w->lock);
}

bool svc_wakeup_fired(struct svc_wakeup *w)
{
  if (w == NULL)
    return false;
  pthread_mutex_lock(&w->lock);
  bool fired = w->fired;
  pthread_mutex_unlock(&w->lock);
  return fired;
}

void svc_wakeup_detach(struct svc_wakeup *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->con = NULL;
  w->suspended = false;
  pthread_mutex_unlock(&w->lock);
}
