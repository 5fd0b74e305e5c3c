/*
 * console_request.h — an XML Request as the audit console shows it: the
 * structure the terminal client renders (owcp/render.h) written as
 * escaped HTML (console_request.c).
 */
#ifndef OWCP_DISPATCHER_CONSOLE_REQUEST_H
#define OWCP_DISPATCHER_CONSOLE_REQUEST_H

#include "console_html.h"

#include "owcp/request.h"

/* Appends req as a <div id="rendered">: From, To, Type, Summary, then the
 * body's paragraphs, tables and barcodes (inline SVG). */
void console_request_html(struct html *h, const struct owcp_request *req);

#endif
