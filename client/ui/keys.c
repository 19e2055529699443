/* SPDX-License-Identifier: MIT */
/* The keyboard: grab, keys to the desktop, the key combinations (window_priv.h). */
#include "window_priv.h"

#include "log.h"

#include <gdk/gdkkeysyms.h>

#define DEFAULT_ADMIN_COMBO "ctrl+alt+shift+q"
#define DEFAULT_STATS_COMBO "ctrl+alt+shift+s"
#define DEFAULT_SCALE_COMBO "ctrl+alt+shift+m"
#define MUTE_COMBO	    "ctrl+alt+shift+a" /* sound on/off */
#define VOLUME_UP_COMBO	    "ctrl+alt+shift+Up"
#define VOLUME_DOWN_COMBO   "ctrl+alt+shift+Down"
#define MIC_COMBO	    "ctrl+alt+shift+v" /* voice: the microphone on/off */
#define VOLUME_STEP	    10

void keys_grab(struct client_window *w)
{
	GdkWindow *gw = gtk_widget_get_window(w->window);
	GdkSeat *seat = gdk_display_get_default_seat(gtk_widget_get_display(w->window));

	if (w->keys.grabbed || !gw || !gtk_window_is_active(GTK_WINDOW(w->window)))
		return;
	if (gdk_seat_grab(seat, gw, GDK_SEAT_CAPABILITY_KEYBOARD, FALSE, NULL, NULL, NULL, NULL) ==
	    GDK_GRAB_SUCCESS) {
		w->keys.grabbed = true;
		log_debug("keyboard grabbed (Ctrl+Alt releases it)");
	}
}

static void ungrab(struct client_window *w)
{
	if (!w->keys.grabbed)
		return;
	gdk_seat_ungrab(gdk_display_get_default_seat(gtk_widget_get_display(w->window)));
	w->keys.grabbed = false;
	log_debug("keyboard released");
}

void keys_release_all(struct client_window *w)
{
	static struct msg rel[INPUT_RELEASE_MAX]; /* the UI thread's only */
	int n = input_state_release_all(&w->keys.held, rel, INPUT_RELEASE_MAX);

	for (int i = 0; i < n; i++)
		if (rel[i].type == MSG_KEY)
			net_send_key(w->net, rel[i].u.key.scancode, rel[i].u.key.keysym, false);
	pointer_release_buttons(w);
}

static unsigned combo_mods_of(GdkModifierType state)
{
	unsigned m = 0;
	if (state & GDK_CONTROL_MASK)
		m |= COMBO_CTRL;
	if (state & GDK_MOD1_MASK)
		m |= COMBO_ALT;
	if (state & GDK_SHIFT_MASK)
		m |= COMBO_SHIFT;
	if (state & (GDK_SUPER_MASK | GDK_MOD4_MASK))
		m |= COMBO_SUPER;
	return m;
}

static bool is_ctrl(guint k)
{
	return k == GDK_KEY_Control_L || k == GDK_KEY_Control_R;
}

static bool is_alt(guint k)
{
	return k == GDK_KEY_Alt_L || k == GDK_KEY_Alt_R || k == GDK_KEY_Meta_L ||
	       k == GDK_KEY_Meta_R;
}

static gboolean key_cb(GtkWidget *widget, GdkEventKey *e, gpointer ud)
{
	struct client_window *w = ud;
	bool down = e->type == GDK_KEY_PRESS;
	uint16_t code = inputmap_evdev_from_x11(e->hardware_keycode);
	unsigned mods = combo_mods_of(e->state);
	(void)widget;

	if (down && w->cfg.kiosk && mods == w->keys.admin_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.admin_keysym) {
		log_info("admin key combination: quitting");
		keys_release_all(w);
		window_quit(w);
		return TRUE;
	}
	if (down && mods == w->keys.stats_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.stats_keysym) {
		overlay_toggle(w, !w->ov.on);
		return TRUE;
	}
	if (down && mods == w->keys.scale_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.scale_keysym) {
		window_scale_cycle(w);
		return TRUE;
	}
	if (down && mods == w->keys.mute_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.mute_keysym) {
		overlay_set_sound(w, w->snd.volume, !w->snd.muted);
		return TRUE;
	}
	if (down && mods == w->keys.vup_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.vup_keysym) {
		overlay_set_sound(w, w->snd.volume + VOLUME_STEP, false);
		return TRUE;
	}
	if (down && mods == w->keys.vdown_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.vdown_keysym) {
		overlay_set_sound(w, w->snd.volume - VOLUME_STEP, w->snd.muted);
		return TRUE;
	}
	if (down && mods == w->keys.mic_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->keys.mic_keysym) {
		overlay_set_mic(w, !w->snd.mic_on);
		return TRUE;
	}
	if (down && !w->cfg.kiosk && e->keyval == GDK_KEY_F11 && !(mods & ~COMBO_SHIFT)) {
		window_toggle_fullscreen(w);
		return TRUE;
	}
	if (down && w->state == SESSION_CLOSED && !w->cfg.kiosk && e->keyval == GDK_KEY_F5) {
		net_retry_now(w->net);
		return TRUE;
	}
	/* Ctrl+Alt releases the keyboard (the keys still go to the desktop) */
	if (down && w->keys.grabbed &&
	    ((is_ctrl(e->keyval) && (mods & COMBO_ALT)) ||
	     (is_alt(e->keyval) && (mods & COMBO_CTRL))))
		ungrab(w);
	if (code == 0 && e->keyval == 0)
		return TRUE;
	if (code && code < INPUT_KEYS && !down && !input_state_key_held(&w->keys.held, code))
		return TRUE; /* pressed before we had focus: not ours to release */
	struct msg km = {.type = MSG_KEY};
	km.u.key.scancode = code;
	km.u.key.keysym = e->keyval;
	km.u.key.flags = down ? MSG_KEY_DOWN : 0;
	input_state_track(&w->keys.held, &km);
	if (w->state == SESSION_CONNECTED)
		net_send_key(w->net, code, e->keyval, down);
	return TRUE;
}

static gboolean focus_cb(GtkWidget *widget, GdkEventFocus *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;

	if (e->in) {
		keys_grab(w);
	} else {
		keys_release_all(w);
		ungrab(w);
	}
	return FALSE;
}

static unsigned keysym_from_name(const char *name)
{
	guint k = gdk_keyval_from_name(name);
	return k == GDK_KEY_VoidSymbol ? 0 : gdk_keyval_to_lower(k);
}

int keys_init(struct client_window *w, const struct client_cfg *cfg)
{
	const char *combo = cfg->admin_combo ? cfg->admin_combo : DEFAULT_ADMIN_COMBO;

	if (combo_parse(combo, keysym_from_name, &w->keys.admin_mods, &w->keys.admin_keysym) < 0) {
		log_error("cannot read the admin key combination \"%s\" (write e.g. "
			  "ctrl+alt+shift+q)",
			  combo);
		return -1;
	}
	if (combo_parse(cfg->stats_combo ? cfg->stats_combo : DEFAULT_STATS_COMBO, keysym_from_name,
			&w->keys.stats_mods, &w->keys.stats_keysym) < 0 ||
	    combo_parse(cfg->scale_combo ? cfg->scale_combo : DEFAULT_SCALE_COMBO, keysym_from_name,
			&w->keys.scale_mods, &w->keys.scale_keysym) < 0) {
		log_error("cannot read the --stats-keys or --scale-keys combination (write e.g. "
			  "ctrl+alt+shift+s)");
		return -1;
	}
	/* fixed: they cannot fail to parse */
	combo_parse(MUTE_COMBO, keysym_from_name, &w->keys.mute_mods, &w->keys.mute_keysym);
	combo_parse(VOLUME_UP_COMBO, keysym_from_name, &w->keys.vup_mods, &w->keys.vup_keysym);
	combo_parse(VOLUME_DOWN_COMBO, keysym_from_name, &w->keys.vdown_mods,
		    &w->keys.vdown_keysym);
	combo_parse(MIC_COMBO, keysym_from_name, &w->keys.mic_mods, &w->keys.mic_keysym);
	return 0;
}

void keys_connect(struct client_window *w)
{
	g_signal_connect(w->window, "key-press-event", G_CALLBACK(key_cb), w);
	g_signal_connect(w->window, "key-release-event", G_CALLBACK(key_cb), w);
	g_signal_connect(w->window, "focus-in-event", G_CALLBACK(focus_cb), w);
	g_signal_connect(w->window, "focus-out-event", G_CALLBACK(focus_cb), w);
}
