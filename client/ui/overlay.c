/* SPDX-License-Identifier: MIT */
/* The statistics overlay (and --trace) and the sound controls (window_priv.h). */
#include "window_priv.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STATS_PERIOD_MS 500 /* the overlay's update interval */

/* ---- sound ------------------------------------------------------------------------ */

static void mic_indicator(struct client_window *w, bool live)
{
	if (live != w->snd.mic_live)
		log_info("microphone %s", live ? "live: the desktop hears it" : "not sent");
	w->snd.mic_live = live;
	gtk_widget_set_visible(w->snd.mic_label, live);
}

static gboolean audio_bar_hide_cb(gpointer ud)
{
	struct client_window *w = ud;
	w->snd.bar_id = 0;
	if (!w->ov.on)
		gtk_widget_hide(w->snd.bar);
	return G_SOURCE_REMOVE;
}

void overlay_bar_update(struct client_window *w, bool changed)
{
	char vol[32];

	w->snd.syncing = true;
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w->snd.mute_btn), w->snd.muted);
	gtk_button_set_label(GTK_BUTTON(w->snd.mute_btn), w->snd.muted ? "Sound off" : "Sound on");
	gtk_range_set_value(GTK_RANGE(w->snd.volume_scale), w->snd.volume);
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w->snd.mic_btn), w->snd.mic_on);
	gtk_widget_set_sensitive(w->snd.mic_btn, !w->cfg.no_mic);
	gtk_button_set_label(GTK_BUTTON(w->snd.mic_btn), w->snd.mic_on ? "Mic on" : "Mic off");
	w->snd.syncing = false;
	snprintf(vol, sizeof(vol), "volume %d %%", w->snd.volume);
	gtk_widget_set_tooltip_text(w->snd.volume_scale, vol);
	if (w->ov.on || changed)
		gtk_widget_show(w->snd.bar);
	else if (!w->snd.bar_id)
		gtk_widget_hide(w->snd.bar);
	if (changed) {
		if (w->snd.bar_id)
			g_source_remove(w->snd.bar_id);
		w->snd.bar_id = g_timeout_add(NOTICE_MS, audio_bar_hide_cb, w);
	}
}

void overlay_set_sound(struct client_window *w, int volume, bool muted)
{
	w->snd.volume = volume < 0 ? 0 : volume > 100 ? 100 : volume;
	w->snd.muted = muted;
	net_set_volume(w->net, w->snd.volume, w->snd.muted);
	overlay_bar_update(w, true);
}

void overlay_set_mic(struct client_window *w, bool on)
{
	if (w->cfg.no_mic)
		return;
	w->snd.mic_on = on;
	net_set_mic(w->net, on);
	if (on && w->state == SESSION_CONNECTED && !w->snd.mic_allowed)
		status_notice(w, "The desktop does not take this client's microphone");
	overlay_bar_update(w, true);
}

static void mute_toggled_cb(GtkToggleButton *b, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->snd.syncing)
		overlay_set_sound(w, w->snd.volume, gtk_toggle_button_get_active(b));
}

static void volume_changed_cb(GtkRange *r, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->snd.syncing)
		overlay_set_sound(w, (int)lround(gtk_range_get_value(r)), w->snd.muted);
}

static void mic_toggled_cb(GtkToggleButton *b, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->snd.syncing)
		overlay_set_mic(w, gtk_toggle_button_get_active(b));
}

/* ---- statistics overlay ------------------------------------------------------------ */

static void stats_period_start(struct client_window *w, const struct net_stats *ns)
{
	w->ov.period_start = g_get_monotonic_time();
	w->ov.period_frames = 0;
	w->ov.period_bytes0 = ns->bytes_received;
	stats_series_reset(&w->ov.period_latency);
	stats_series_reset(&w->ov.period_decode);
	stats_stages_reset(&w->ov.period_stages);
}

/* Twice a second: the numbers of the last period into the overlay (and the trace). */
static gboolean stats_tick(gpointer ud)
{
	struct client_window *w = ud;
	struct stats_overlay o = {0};
	struct net_stats ns;
	struct fit f;
	char text[1280], agent[256], client[256];
	double secs;
	int sf;

	net_get_stats(w->net, &ns);
	secs = (double)(g_get_monotonic_time() - w->ov.period_start) / 1e6;
	if (secs <= 0)
		return G_SOURCE_CONTINUE;
	if (ns.bytes_received < w->ov.period_bytes0) /* a new session */
		w->ov.period_bytes0 = 0;
	o.fps = w->ov.period_frames / secs;
	o.kbps = ns.connected ? (double)(ns.bytes_received - w->ov.period_bytes0) * 8 / 1000 / secs
			      : NAN;
	o.latency_ms = stats_series_percentile(&w->ov.period_latency, 50);
	o.same_clock = w->ov.same_host;
	o.decode_ms = stats_series_percentile(&w->ov.period_decode, 50);
	o.rtt_ms = ns.rtt_us >= 0 ? ns.rtt_us / 1e3 : NAN;
	stats_stages_format(&w->ov.period_stages, 50, 0, MSG_STAGE_COUNT, agent, sizeof(agent));
	stats_stages_format(&w->ov.period_stages, 50, STATS_STAGE_NETWORK, STATS_STAGE_COUNT,
			    client, sizeof(client));
	o.stages_agent = agent;
	o.stages_client = client;
	o.decoder = ns.decoder[0] ? ns.decoder : NULL;
	o.fallback = ns.decoder_fallback;
	o.renderer = view_renderer_detail(w->view);
	o.desk_w = w->desk_w;
	o.desk_h = w->desk_h;
	o.scale = view_scale_name(view_get_scale(w->view));
	sf = gtk_widget_get_scale_factor(w->events);
	o.scale_factor = sf;
	f = view_fit(w->view);
	o.zoom = f.scale * sf;
	view_get_offset(w->view, &o.off_x, &o.off_y);
	if (ns.audio) {
		o.audio = true;
		o.audio_kbps = ns.audio_st.kbps;
		o.jitter_ms = ns.audio_st.depth_us / 1e3;
		o.jitter_target_ms = ns.audio_st.target_us / 1e3;
		o.concealed = ns.audio_st.concealed + ns.audio_st.recovered;
		o.audio_dropped = ns.audio_st.dropped + ns.audio_st.late;
		o.lipsync_ms = ns.audio_st.lipsync_valid ? ns.audio_st.lipsync_ms : NAN;
		o.volume = ns.audio_st.volume;
		o.muted = ns.audio_st.muted;
		o.mic = ns.mic_live ? "live" : ns.mic_allowed ? "off" : "not taken";
	}
	mic_indicator(w, ns.mic_live);
	stats_overlay_format(&o, text, sizeof(text));
	stats_period_start(w, &ns);
	if (!w->ov.on)
		return G_SOURCE_CONTINUE;
	view_set_stats(w->view, text);
	if (w->ov.trace) {
		/* what the overlay says, on one line: the tests read it */
		for (char *p = text; *p; p++)
			if (*p == '\n')
				*p = '|';
		fprintf(w->ov.trace, "O %s\n", text);
	}
	return G_SOURCE_CONTINUE;
}

void overlay_toggle(struct client_window *w, bool on)
{
	w->ov.on = on;
	overlay_bar_update(w, false);
	if (!on)
		view_set_stats(w->view, NULL);
	else
		stats_tick(w);
	log_info("statistics overlay %s", on ? "shown" : "hidden");
}

/* Whether the agent's address is this host (loopback): then its clock is ours. */
static bool host_is_local(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

int overlay_init(struct client_window *w, const struct client_cfg *cfg)
{
	w->snd.volume = cfg->volume > 0 && cfg->volume <= 100 ? cfg->volume : 100;
	w->snd.mic_on = cfg->mic && !cfg->no_mic;
	if (cfg->trace_file) {
		w->ov.trace = fopen(cfg->trace_file, "w");
		if (!w->ov.trace) {
			log_error("cannot write the trace file %s: %s (check the directory)",
				  cfg->trace_file, strerror(errno));
			return -1;
		}
		setvbuf(w->ov.trace, NULL, _IOLBF, 0); /* whole lines, readable while we run */
		fprintf(w->ov.trace,
			"# F frame capture_us decoded_us decode_us shown_us "
			"(CLOCK_REALTIME; capture is the agent's clock)\n"
			"# S frame capture wait convert encode link queue network decode "
			"handoff render present (ms; a shown frame with stage times)\n"
			"# O overlay text, lines joined by |\n");
	}
	stats_series_init(&w->ov.period_latency);
	stats_series_init(&w->ov.period_decode);
	stats_stages_init(&w->ov.period_stages);
	w->ov.same_host = host_is_local(cfg->host);
	return 0;
}

void overlay_build(struct client_window *w)
{
	/* sound controls, top right; they never take the keyboard from the desktop */
	w->snd.bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	w->snd.mute_btn = gtk_toggle_button_new_with_label("Sound on");
	w->snd.volume_scale = gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, 0, 100, 1);
	gtk_scale_set_draw_value(GTK_SCALE(w->snd.volume_scale), TRUE);
	gtk_scale_set_digits(GTK_SCALE(w->snd.volume_scale), 0);
	gtk_widget_set_size_request(w->snd.volume_scale, 140, -1);
	w->snd.mic_btn = gtk_toggle_button_new_with_label("Mic off");
	gtk_widget_set_can_focus(w->snd.mute_btn, FALSE);
	gtk_widget_set_can_focus(w->snd.volume_scale, FALSE);
	gtk_widget_set_can_focus(w->snd.mic_btn, FALSE);
	gtk_box_pack_start(GTK_BOX(w->snd.bar), w->snd.mute_btn, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->snd.bar), w->snd.volume_scale, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->snd.bar), w->snd.mic_btn, FALSE, FALSE, 0);
	gtk_widget_set_no_show_all(w->snd.bar, TRUE);
	gtk_widget_show(w->snd.mute_btn);
	gtk_widget_show(w->snd.volume_scale);
	gtk_widget_show(w->snd.mic_btn);
	g_signal_connect(w->snd.mute_btn, "toggled", G_CALLBACK(mute_toggled_cb), w);
	g_signal_connect(w->snd.volume_scale, "value-changed", G_CALLBACK(volume_changed_cb), w);
	g_signal_connect(w->snd.mic_btn, "toggled", G_CALLBACK(mic_toggled_cb), w);
	window_add_overlay(w, w->snd.bar, "hr-audio", GTK_ALIGN_END, GTK_ALIGN_START, false);
	/* while the microphone is live, always: the user must see that the desktop hears them */
	w->snd.mic_label = gtk_label_new("● mic");
	gtk_widget_set_no_show_all(w->snd.mic_label, TRUE);
	window_add_overlay(w, w->snd.mic_label, "hr-mic", GTK_ALIGN_START, GTK_ALIGN_START, true);
}

void overlay_start(struct client_window *w)
{
	w->ov.period_start = g_get_monotonic_time();
	w->ov.timer = g_timeout_add(STATS_PERIOD_MS, stats_tick, w);
	if (w->cfg.stats)
		overlay_toggle(w, true);
}

/* ms from a to b (CLOCK_REALTIME µs), never negative */
static double us_between(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e3 : 0;
}

void overlay_frame_shown(struct client_window *w, const struct ui_frame *f, uint64_t shown_us)
{
	w->ov.period_frames++;
	stats_series_add(&w->ov.period_latency, ((double)shown_us - (double)f->capture_us) / 1e3);
	stats_series_add(&w->ov.period_decode, f->decode_us / 1e3);
	if (w->ov.trace)
		fprintf(w->ov.trace, "F %u %" PRIu64 " %" PRIu64 " %u %" PRIu64 "\n", f->number,
			f->capture_us, f->decoded_us, f->decode_us, shown_us);
	if (f->timed && f->taken_us && f->painted_us) {
		struct stats_stages *st = &w->ov.period_stages;
		double ms[STATS_STAGE_COUNT];

		stats_stages_of_frame(ms, f->stage_us, f->network_us, f->decode_us);
		ms[STATS_STAGE_HANDOFF] = us_between(f->decoded_us, f->taken_us);
		ms[STATS_STAGE_RENDER] = us_between(f->taken_us, f->painted_us);
		ms[STATS_STAGE_PRESENT] = us_between(f->painted_us, shown_us);
		stats_stages_add(st, ms, STATS_STAGE_COUNT);
		if (w->ov.trace) {
			fprintf(w->ov.trace, "S %u", f->number);
			for (int i = 0; i < STATS_STAGE_COUNT; i++)
				fprintf(w->ov.trace, " %.3f", ms[i]);
			fputc('\n', w->ov.trace);
		}
	}
}

void overlay_refresh(struct client_window *w)
{
	if (w->ov.on)
		stats_tick(w);
}

void overlay_stop(struct client_window *w)
{
	if (w->snd.bar_id)
		g_source_remove(w->snd.bar_id);
}

void overlay_deinit(struct client_window *w)
{
	if (w->ov.trace)
		fclose(w->ov.trace);
	stats_series_deinit(&w->ov.period_latency);
	stats_series_deinit(&w->ov.period_decode);
	stats_stages_deinit(&w->ov.period_stages);
}
