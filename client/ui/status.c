/* SPDX-License-Identifier: MIT */
/* The status page over the picture and the notices at the bottom (window_priv.h). */
#include "window_priv.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

void status_build(struct client_window *w)
{
	w->st.box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
	w->st.title = gtk_label_new("Connecting…");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->st.title), "hr-status-title");
	w->st.detail = gtk_label_new("");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->st.detail), "hr-status-detail");
	gtk_label_set_line_wrap(GTK_LABEL(w->st.detail), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(w->st.detail), 80);
	gtk_label_set_justify(GTK_LABEL(w->st.detail), GTK_JUSTIFY_CENTER);
	gtk_label_set_selectable(GTK_LABEL(w->st.detail), FALSE);
	gtk_box_pack_start(GTK_BOX(w->st.box), w->st.title, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->st.box), w->st.detail, FALSE, FALSE, 0);
	window_add_overlay(w, w->st.box, "hr-status", GTK_ALIGN_CENTER, GTK_ALIGN_CENTER, true);
	w->st.notice = gtk_label_new("");
	gtk_label_set_line_wrap(GTK_LABEL(w->st.notice), TRUE);
	gtk_widget_set_no_show_all(w->st.notice, TRUE);
	window_add_overlay(w, w->st.notice, "hr-notice", GTK_ALIGN_CENTER, GTK_ALIGN_END, true);
}

/*
 * The agent's text often repeats the title ("the desktop is restarting: its
 * console closed; ..." under "The desktop is restarting"): show only the rest.
 */
static const char *past_title(const char *title, const char *detail)
{
	size_t n = strlen(title);

	if (!detail || g_ascii_strncasecmp(detail, title, n) != 0)
		return detail;
	detail += n;
	while (*detail == ':' || *detail == ';' || *detail == ',' || *detail == ' ')
		detail++;
	return detail;
}

void status_show(struct client_window *w, const char *title, const char *detail)
{
	detail = past_title(title, detail);
	gtk_label_set_text(GTK_LABEL(w->st.title), title);
	gtk_label_set_text(GTK_LABEL(w->st.detail), detail ? detail : "");
	gtk_widget_set_visible(w->st.detail, detail && *detail);
	gtk_widget_show(w->st.box);
	view_set_dim(w->view, true);
	if (log_get_level() >= LOG_LEVEL_INFO) {
		char *flat = g_strdup(detail ? detail : "");
		for (char *p = flat; *p; p++)
			if (*p == '\n')
				*p = ' ';
		log_info("status: %s%s%s", title, *flat ? " — " : "", flat);
		g_free(flat);
	}
}

void status_hide(struct client_window *w)
{
	if (gtk_widget_get_visible(w->st.box))
		log_info("status: cleared, the desktop shows again");
	gtk_widget_hide(w->st.box);
	view_set_dim(w->view, false);
}

static int seconds_left(struct client_window *w)
{
	gint64 left = w->st.retry_at - g_get_monotonic_time();
	return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static void show_retry(struct client_window *w)
{
	char title[256], detail[2 * MSG_REASON_MAX + 1024];
	int s = seconds_left(w);

	if (w->st.unavailable) {
		snprintf(title, sizeof(title), "Desktop unavailable — retrying in %d s", s);
		snprintf(detail, sizeof(detail), "%s", w->st.close_text);
	} else if (w->st.reconnecting) {
		snprintf(title, sizeof(title), "Reconnecting (attempt %d)…", w->st.attempt);
		snprintf(detail, sizeof(detail), "%s\nNext try in %d s.", w->st.close_text, s);
	} else if (w->cfg.prepare) { /* the broker said why */
		snprintf(title, sizeof(title), "Cannot reach the desktop — retrying in %d s", s);
		snprintf(detail, sizeof(detail), "%s", w->st.close_text);
	} else {
		snprintf(title, sizeof(title), "Cannot reach the desktop — retrying in %d s", s);
		snprintf(detail, sizeof(detail),
			 "%s\nCheck that the agent at %s:%u runs and that no firewall is in the "
			 "way.",
			 w->st.close_text, w->host, w->cfg.port);
	}
	status_show(w, title, detail);
}

static gboolean countdown_cb(gpointer ud)
{
	struct client_window *w = ud;

	if (w->state != SESSION_CLOSED || seconds_left(w) <= 0) {
		w->st.countdown_id = 0;
		return G_SOURCE_REMOVE;
	}
	show_retry(w);
	return G_SOURCE_CONTINUE;
}

/* The error page: what happened and what to do about it. */
static void show_error(struct client_window *w, const struct net_event *ev)
{
	char detail[2 * MSG_REASON_MAX + 2048];
	const char *title, *todo;
	char todo_buf[512];

	if (w->cfg.prepare && ev->closed_in == SESSION_CONNECTING && ev->bye_reason < 0 &&
	    ev->end == SESSION_END_PROTOCOL && !ev->peer_pin[0]) {
		/* the broker's refusal: its words say what to do */
		title = strstr(ev->text, "not trusted") ? "The broker's certificate is not trusted"
							: "The broker cannot give you a desktop";
		todo = "";
	} else if (net_is_trust_failure(ev->text)) {
		title = "The desktop's certificate is not trusted";
		if (ev->peer_pin[0])
			snprintf(todo_buf, sizeof(todo_buf),
				 "Check --ca (the deployment's ca.pem) and --pin. The agent "
				 "presented the key with SHA-256 fingerprint\n%s\nOnly pin it if "
				 "your administrator confirms it.",
				 ev->peer_pin);
		else
			snprintf(todo_buf, sizeof(todo_buf),
				 "Check --ca (the deployment's ca.pem) and --pin.");
		todo = todo_buf;
	} else if (ev->bye_reason == MSG_BYE_TICKET_EXPIRED) {
		title = "The connect ticket has expired";
		todo = "Ask the broker for a new ticket and use it within a minute; check that "
		       "this computer's clock is right.";
	} else if (ev->bye_reason == MSG_BYE_TICKET_INVALID) {
		title = "The connect ticket was refused";
		todo = "A ticket is good for one connection to one desktop: ask the broker for "
		       "a new one.";
	} else if (ev->bye_reason == MSG_BYE_VERSION || ev->end == SESSION_END_PROTOCOL) {
		title = ev->end == SESSION_END_PROTOCOL && ev->closed_in == SESSION_CONNECTING
				? "Cannot start the connection"
				: "The desktop and this client do not understand each other";
		todo = ev->closed_in == SESSION_CONNECTING && ev->end == SESSION_END_PROTOCOL
			       ? "Check the --ticket, --ca and --pin arguments."
			       : "Use a client from the same Highrise release as the agent, and "
				 "report this with the agent's log.";
	} else if (ev->end == SESSION_END_NETWORK) {
		title = "Cannot reach the desktop";
		todo = "Check the network and that the agent runs.";
	} else {
		title = "The session has ended";
		todo = "";
	}
	snprintf(detail, sizeof(detail), "%s%s%s%s", ev->text, *todo ? "\n" : "", todo,
		 w->cfg.kiosk ? "" : "\nPress F5 to try again.");
	status_show(w, title, detail);
}

static gboolean notice_hide_cb(gpointer ud)
{
	struct client_window *w = ud;

	w->st.notice_id = 0;
	gtk_widget_hide(w->st.notice);
	return G_SOURCE_REMOVE;
}

void status_notice(struct client_window *w, const char *text)
{
	gtk_label_set_text(GTK_LABEL(w->st.notice), text);
	gtk_widget_show(w->st.notice);
	if (w->st.notice_id)
		g_source_remove(w->st.notice_id);
	w->st.notice_id = g_timeout_add(NOTICE_MS, notice_hide_cb, w);
	log_info("notice: %s", text);
}

void status_connected(struct client_window *w)
{
	w->st.reconnecting = w->st.unavailable = false;
	w->st.attempt = 0;
	status_hide(w);
}

void status_closed(struct client_window *w, const struct net_event *ev)
{
	snprintf(w->st.close_text, sizeof(w->st.close_text), "%s", ev->text);
	if (ev->retry_ms >= 0) {
		w->st.attempt = ev->attempt;
		w->st.unavailable = ev->bye_reason == MSG_BYE_DESKTOP_UNAVAILABLE;
		w->st.reconnecting = ev->was_connected && !w->st.unavailable;
		w->st.retry_at = g_get_monotonic_time() + (gint64)ev->retry_ms * 1000;
		show_retry(w);
		if (!w->st.countdown_id)
			w->st.countdown_id = g_timeout_add(250, countdown_cb, w);
	} else {
		show_error(w, ev);
	}
}

void status_deinit(struct client_window *w)
{
	if (w->st.countdown_id)
		g_source_remove(w->st.countdown_id);
	if (w->st.notice_id)
		g_source_remove(w->st.notice_id);
}
