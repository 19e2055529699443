/* SPDX-License-Identifier: MIT */
/*
 * The GTK client's pieces that need no display: the fit transform, pointer
 * buttons, scroll accumulation, keycodes, the admin combination, the retry
 * policy, and the network thread's plumbing (commands in, events out, the
 * wake-up) against a port where nothing listens.
 */
#include "check.h"
#include "inputmap.h"
#include "log.h"
#include "net.h"
#include "stats.h"
#include "ticket.h"
#include "decoder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void test_fit(void)
{
	struct fit f = fit_compute(960, 600, 1920, 1080);
	uint16_t x, y;

	CHECK(f.scale == 0.5);
	CHECK(f.x == 0 && f.y == 30 && f.w == 960 && f.h == 540);
	CHECK(fit_to_desktop(&f, 1920, 1080, 400, 300, &x, &y));
	CHECK_INT_EQ(x, 800);
	CHECK_INT_EQ(y, 540);
	/* the letterbox: outside, clamped to the nearest pixel */
	CHECK(!fit_to_desktop(&f, 1920, 1080, 10, 5, &x, &y));
	CHECK_INT_EQ(x, 20);
	CHECK_INT_EQ(y, 0);
	CHECK(!fit_to_desktop(&f, 1920, 1080, 2000, 599, &x, &y));
	CHECK_INT_EQ(x, 1919);
	CHECK_INT_EQ(y, 1079);
	CHECK(!fit_to_desktop(&f, 1920, 1080, -1e300, 1e300, &x, &y));
	CHECK_INT_EQ(x, 0);
	CHECK_INT_EQ(y, 1079);

	/* pillarbox: a 4:3 desktop in a wide area */
	f = fit_compute(1600, 600, 800, 600);
	CHECK(f.scale == 1.0 && f.x == 400 && f.y == 0);
	CHECK(fit_to_desktop(&f, 800, 600, 400, 0, &x, &y));
	CHECK_INT_EQ(x, 0);
	CHECK(fit_to_desktop(&f, 800, 600, 1199.9, 599.9, &x, &y));
	CHECK_INT_EQ(x, 799);
	CHECK_INT_EQ(y, 599);

	/* 2/3 (the kiosk test): window (640, 400) on 1280x800 is desktop (960, 540) */
	f = fit_compute(1280, 800, 1920, 1080);
	CHECK(fit_to_desktop(&f, 1920, 1080, 640, 400, &x, &y));
	CHECK_INT_EQ(x, 960);
	CHECK_INT_EQ(y, 540);

	/* nothing to fit */
	f = fit_compute(0, 600, 1920, 1080);
	CHECK(f.scale == 0);
	CHECK(!fit_to_desktop(&f, 1920, 1080, 1, 1, &x, &y));
	f = fit_compute(100, 100, 0, 0);
	CHECK(f.scale == 0 && f.w == 0);
	f = fit_compute(0.0 / 0.0, 100, 10, 10);
	CHECK(f.scale == 0);
}

static void test_buttons(void)
{
	CHECK_INT_EQ(inputmap_button_bit(1), 0x01);
	CHECK_INT_EQ(inputmap_button_bit(2), 0x02);
	CHECK_INT_EQ(inputmap_button_bit(3), 0x04);
	for (unsigned b = 4; b <= 7; b++)
		CHECK_INT_EQ(inputmap_button_bit(b), 0); /* wheels are SCROLL */
	CHECK_INT_EQ(inputmap_button_bit(8), 0x08);	 /* back: protocol button 4 */
	CHECK_INT_EQ(inputmap_button_bit(9), 0x10);	 /* forward: 5 */
	CHECK_INT_EQ(inputmap_button_bit(10), 0x20);
	CHECK_INT_EQ(inputmap_button_bit(12), 0x80);
	CHECK_INT_EQ(inputmap_button_bit(13), 0);
	CHECK_INT_EQ(inputmap_button_bit(0), 0);
	CHECK_INT_EQ(inputmap_button_bit(~0u), 0);
}

static void test_scroll(void)
{
	struct scroll_accum a = {0};
	int16_t dx, dy;
	int total = 0;

	scroll_accum_add(&a, 0, 1, &dx, &dy); /* one click down */
	CHECK_INT_EQ(dx, 0);
	CHECK_INT_EQ(dy, 120);
	scroll_accum_add(&a, -1, 0, &dx, &dy);
	CHECK_INT_EQ(dx, -120);
	CHECK_INT_EQ(dy, 0);
	/* slow smooth scrolling: fractions add up, nothing is lost */
	for (int i = 0; i < 100; i++) {
		scroll_accum_add(&a, 0, 0.001, &dx, &dy);
		total += dy;
	}
	scroll_accum_add(&a, 0, 0, &dx, &dy);
	total += dy;
	/* 100 * 0.12 = 12 units, sent or still pending (rounding decides which) */
	CHECK(total == 11 || total == 12);
	CHECK(total + a.y > 11.999 && total + a.y < 12.001);
	/* a flood is capped, not wrapped */
	a = (struct scroll_accum){0};
	scroll_accum_add(&a, 1e9, -1e9, &dx, &dy);
	CHECK_INT_EQ(dx, 32767);
	CHECK_INT_EQ(dy, -32767);
	scroll_accum_add(&a, 0.0 / 0.0, 1.0 / 0.0, &dx, &dy);
	CHECK(dx == 0 && dy == 0); /* not finite: ignored */
}

static void test_keys(void)
{
	CHECK_INT_EQ(inputmap_evdev_from_x11(38), 30); /* X11 'a' -> KEY_A */
	CHECK_INT_EQ(inputmap_evdev_from_x11(9), 1);   /* Escape */
	CHECK_INT_EQ(inputmap_evdev_from_x11(7), 0);
	CHECK_INT_EQ(inputmap_evdev_from_x11(0), 0);
}

static unsigned fake_keysym(const char *name)
{
	if (!strcmp(name, "q") || !strcmp(name, "Q"))
		return 'q';
	if (!strcmp(name, "End"))
		return 0xff57;
	return 0;
}

static void test_combo(void)
{
	unsigned mods, sym;

	CHECK_INT_EQ(combo_parse("ctrl+alt+shift+q", fake_keysym, &mods, &sym), 0);
	CHECK_INT_EQ(mods, COMBO_CTRL | COMBO_ALT | COMBO_SHIFT);
	CHECK_INT_EQ(sym, 'q');
	CHECK_INT_EQ(combo_parse("Control+Super+End", fake_keysym, &mods, &sym), 0);
	CHECK_INT_EQ(mods, COMBO_CTRL | COMBO_SUPER);
	CHECK_INT_EQ(sym, 0xff57);
	CHECK_INT_EQ(combo_parse("End", fake_keysym, &mods, &sym), 0);
	CHECK_INT_EQ(mods, 0);
	CHECK_INT_EQ(combo_parse("ctrl+nosuchkey", fake_keysym, &mods, &sym), -EINVAL);
	CHECK_INT_EQ(combo_parse("hyper+q", fake_keysym, &mods, &sym), -EINVAL);
	CHECK_INT_EQ(combo_parse("", fake_keysym, &mods, &sym), -EINVAL);
	CHECK_INT_EQ(combo_parse("+++", fake_keysym, &mods, &sym), -EINVAL);
	CHECK_INT_EQ(combo_parse(NULL, fake_keysym, &mods, &sym), -EINVAL);
}

static void test_retry_policy(void)
{
	/* the network: retry with backoff 1, 2, 4, 8, 10, 10 s */
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, false, 1, false), 1000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, false, 2, false), 2000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, false, 4, false), 8000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, false, 5, false), 10000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, false, 1000000, false), 10000);
	/* an untrusted certificate needs a person, except in a kiosk */
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, true, 1, false), -1);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_NETWORK, -1, true, 1, true), 1000);
	/* the desktop is not there yet: every 5 s */
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_REFUSED, MSG_BYE_DESKTOP_UNAVAILABLE, false, 7,
					false),
		     5000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_BYE, MSG_BYE_SHUTDOWN, false, 1, false), 1000);
	/* refused tickets, protocol errors, the user's own close */
	CHECK_INT_EQ(
		net_retry_delay_ms(SESSION_END_REFUSED, MSG_BYE_TICKET_EXPIRED, false, 1, false),
		-1);
	CHECK_INT_EQ(
		net_retry_delay_ms(SESSION_END_REFUSED, MSG_BYE_TICKET_INVALID, false, 1, true),
		1000);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_PROTOCOL, -1, false, 1, false), -1);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_BYE, MSG_BYE_ADMIN, false, 1, false), -1);
	CHECK_INT_EQ(net_retry_delay_ms(SESSION_END_LOCAL, -1, false, 1, true), -1);

	CHECK(net_is_trust_failure("cannot connect to h:1: the peer's certificate is not issued by "
				   "a trusted CA"));
	CHECK(net_is_trust_failure("the peer's public key does not match the pinned SHA-256"));
	CHECK(!net_is_trust_failure("cannot connect to h:1: Connection refused"));
	CHECK(!net_is_trust_failure(NULL));
}

/* ---- the net thread against a closed port ---------------------------------- */

struct waiter {
	GMutex lock;
	GCond cond;
	int wakes;
};

static void wake(void *ud)
{
	struct waiter *w = ud;
	g_mutex_lock(&w->lock);
	w->wakes++;
	g_cond_signal(&w->cond);
	g_mutex_unlock(&w->lock);
}

static struct net_event *next_event(struct net *n, struct waiter *w, int timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	struct net_event *ev;

	g_mutex_lock(&w->lock);
	while (!(ev = net_pop_event(n))) {
		if (!g_cond_wait_until(&w->cond, &w->lock, end))
			break;
	}
	g_mutex_unlock(&w->lock);
	return ev ? ev : net_pop_event(n);
}

static uint16_t closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void test_net_thread(void)
{
	char path[] = "/tmp/test_client_ui.XXXXXX";
	int fd = mkstemp(path);
	struct waiter w;
	struct net_cfg cfg = {0};
	struct net *n;
	struct net_event *ev;
	bool closed = false;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* a bundle as highrise-ticket writes it; nobody will verify its signature */
	{
		uint8_t pub[TICKET_CLIENT_KEY_LEN], tk[TICKET_WIRE_MAX];
		EVP_PKEY *signer = ticket_client_key_new(pub);
		EVP_PKEY *client_key = ticket_client_key_new(pub);
		struct ticket t;
		size_t tk_len = 0;
		char *bundle = NULL;

		CHECK(signer && client_key);
		CHECK_INT_EQ(
			ticket_init(&t, "alice", "desk", "agent.test", "s-1", pub, time(NULL), 60),
			0);
		CHECK_INT_EQ(ticket_sign(&t, signer, tk, sizeof(tk), &tk_len), 0);
		bundle = ticket_bundle_encode(tk, tk_len, client_key);
		CHECK(bundle != NULL);
		if (bundle)
			CHECK(write(fd, bundle, strlen(bundle)) == (ssize_t)strlen(bundle));
		free(bundle);
		EVP_PKEY_free(signer);
		EVP_PKEY_free(client_key);
	}
	close(fd);
	g_mutex_init(&w.lock);
	g_cond_init(&w.cond);
	w.wakes = 0;

	cfg.session.host = "127.0.0.1";
	cfg.session.port = closed_port();
	cfg.session.ticket_file = path;
	cfg.session.pin_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	cfg.wake = wake;
	cfg.userdata = &w;
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		goto out;
	/* input before a session is open is dropped quietly */
	net_send_key(n, 30, 'a', true);
	net_send_pointer(n, 1, 2, 1);
	net_send_scroll(n, 0, 120);
	net_ack(n, 1, 1, 2);
	while ((ev = next_event(n, &w, 5000))) {
		if (ev->kind == NET_EV_CLOSED) {
			closed = true;
			CHECK_INT_EQ(ev->end, SESSION_END_NETWORK);
			CHECK_INT_EQ(ev->retry_ms, 1000);
			CHECK_INT_EQ(ev->attempt, 1);
			CHECK(!ev->was_connected);
			CHECK(strstr(ev->text, "cannot connect") != NULL);
		}
		net_event_free(ev);
		if (closed)
			break;
	}
	CHECK(closed);
	CHECK(w.wakes >= 1);
	CHECK(net_take_frame(n) == NULL);
	/* the retry comes by itself */
	ev = next_event(n, &w, 3000);
	CHECK(ev && ev->kind == NET_EV_STATE && ev->state == SESSION_CONNECTING);
	net_event_free(ev);
	net_free(n);
out:
	unlink(path);
	g_cond_clear(&w.cond);
	g_mutex_clear(&w.lock);
}

/* ---- touch gestures, zoom, pen, clipboard ---------------------------------------------- */

/* Feeds one event and returns the actions as text: "move 10 20,press 1 10 20,...". */
static const char *feed(struct gesture *g, uint64_t t, uint32_t id, enum gesture_phase ph, double x,
			double y)
{
	static char buf[512];
	struct gesture_action a[GESTURE_ACTIONS_MAX];
	int n = gesture_feed(g, t, id, ph, x, y, a);
	size_t at = 0;

	buf[0] = '\0';
	CHECK(n >= 0 && n <= GESTURE_ACTIONS_MAX);
	for (int i = 0; i < n && at < sizeof(buf) - 80; i++) {
		const struct gesture_action *o = &a[i];
		const char *sep = i ? "," : "";
		switch (o->kind) {
		case GESTURE_MOVE:
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%smove %g %g", sep,
					       o->x, o->y);
			break;
		case GESTURE_PRESS:
		case GESTURE_RELEASE:
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s %u %g %g", sep,
					       o->kind == GESTURE_PRESS ? "press" : "release",
					       o->button, o->x, o->y);
			break;
		case GESTURE_SCROLL:
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%sscroll %g %g", sep,
					       o->dx, o->dy);
			break;
		case GESTURE_PINCH:
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%spinch %g", sep,
					       o->scale);
			break;
		case GESTURE_ZOOM_RESET:
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%sreset", sep);
			break;
		}
	}
	return buf;
}

static void test_gesture_one_finger(void)
{
	struct gesture g = {0};
	struct gesture_action a[GESTURE_ACTIONS_MAX];

	/* tap: down, a small wobble, up within 500 ms -> left click where it went down */
	CHECK_STR_EQ(feed(&g, 1000, 7, GESTURE_BEGIN, 100, 200), "");
	CHECK_INT_EQ(gesture_deadline(&g), 1500);
	CHECK_STR_EQ(feed(&g, 1050, 7, GESTURE_UPDATE, 105, 203), "");
	CHECK_STR_EQ(feed(&g, 1100, 7, GESTURE_END, 106, 204),
		     "move 100 200,press 1 100 200,release 1 100 200");
	CHECK(g.mode == GESTURE_IDLE);
	CHECK_INT_EQ(gesture_deadline(&g), 0);

	/* long press: nothing until 500 ms, then a right click; the lift adds nothing */
	CHECK_STR_EQ(feed(&g, 5000, 8, GESTURE_BEGIN, 300, 300), "");
	CHECK_INT_EQ(gesture_tick(&g, 5499, a), 0);
	CHECK_INT_EQ(gesture_tick(&g, 5500, a), 3);
	CHECK(a[1].kind == GESTURE_PRESS && a[1].button == 3 && a[1].x == 300);
	CHECK(a[2].kind == GESTURE_RELEASE && a[2].button == 3);
	CHECK_INT_EQ(gesture_tick(&g, 6000, a), 0);
	CHECK_STR_EQ(feed(&g, 6100, 8, GESTURE_END, 301, 301), "");
	CHECK(g.mode == GESTURE_IDLE);

	/* a late event fires a long press that came due (no tick ran) */
	CHECK_STR_EQ(feed(&g, 9000, 9, GESTURE_BEGIN, 50, 60), "");
	CHECK_STR_EQ(feed(&g, 9700, 9, GESTURE_END, 50, 60),
		     "move 50 60,press 3 50 60,release 3 50 60");

	/* drag: moved beyond the slop -> button 1 held from the start, follows, released */
	CHECK_STR_EQ(feed(&g, 10000, 1, GESTURE_BEGIN, 10, 10), "");
	CHECK_STR_EQ(feed(&g, 10100, 1, GESTURE_UPDATE, 40, 10),
		     "move 10 10,press 1 10 10,move 40 10");
	CHECK_INT_EQ(gesture_deadline(&g), 0); /* no long press during a drag */
	CHECK_STR_EQ(feed(&g, 10900, 1, GESTURE_UPDATE, 80, 30), "move 80 30");
	CHECK_STR_EQ(feed(&g, 11000, 1, GESTURE_END, 90, 30), "move 90 30,release 1 90 30");

	/* a cancelled drag releases the button; a cancelled tap does nothing */
	feed(&g, 12000, 2, GESTURE_BEGIN, 10, 10);
	feed(&g, 12010, 2, GESTURE_UPDATE, 100, 10);
	CHECK_STR_EQ(feed(&g, 12020, 2, GESTURE_CANCEL, 0, 0), "release 1 100 10");
	feed(&g, 13000, 3, GESTURE_BEGIN, 10, 10);
	CHECK_STR_EQ(feed(&g, 13010, 3, GESTURE_CANCEL, 10, 10), "");
	CHECK(g.mode == GESTURE_IDLE);

	/* events for unknown ids, repeated begins and NaN are ignored */
	CHECK_STR_EQ(feed(&g, 14000, 99, GESTURE_END, 1, 1), "");
	CHECK_STR_EQ(feed(&g, 14000, 99, GESTURE_UPDATE, 1, 1), "");
	CHECK_INT_EQ(gesture_feed(&g, 14000, 4, GESTURE_BEGIN, NAN, 1, a), 0);
	CHECK(g.mode == GESTURE_IDLE);
}

static void test_gesture_two_fingers(void)
{
	struct gesture g = {0};

	/* two fingers move up together by 40 px: one wheel click down (content follows) */
	feed(&g, 0, 1, GESTURE_BEGIN, 100, 300);
	CHECK_STR_EQ(feed(&g, 10, 2, GESTURE_BEGIN, 200, 300), "");
	CHECK_INT_EQ(gesture_deadline(&g), 0); /* no long press with two fingers */
	CHECK_STR_EQ(feed(&g, 20, 1, GESTURE_UPDATE, 100, 290), "");
	CHECK_STR_EQ(feed(&g, 30, 2, GESTURE_UPDATE, 200, 290), "");
	CHECK(g.mode == GESTURE_TWO);
	/* centroid 20 px up: beyond the slop, scrolls from the start */
	CHECK_STR_EQ(feed(&g, 40, 1, GESTURE_UPDATE, 100, 270), "scroll -0 0.5");
	CHECK(g.mode == GESTURE_SCROLLING);
	CHECK_STR_EQ(feed(&g, 50, 2, GESTURE_UPDATE, 200, 270), "scroll -0 0.25");
	/* sideways: fingers to the right scroll left */
	CHECK_STR_EQ(feed(&g, 60, 1, GESTURE_UPDATE, 140, 270), "scroll -0.5 -0");
	/* lifting one finger ends the gesture; nothing is clicked */
	CHECK_STR_EQ(feed(&g, 70, 1, GESTURE_END, 140, 270), "");
	CHECK_STR_EQ(feed(&g, 700, 2, GESTURE_END, 200, 270), "");
	CHECK(g.mode == GESTURE_IDLE);

	/* pinch: the distance grows from 100 to 150 px */
	feed(&g, 1000, 5, GESTURE_BEGIN, 100, 100);
	feed(&g, 1005, 6, GESTURE_BEGIN, 200, 100);
	CHECK_STR_EQ(feed(&g, 1010, 6, GESTURE_UPDATE, 210, 100), ""); /* 10%: undecided */
	CHECK_STR_EQ(feed(&g, 1020, 6, GESTURE_UPDATE, 250, 100), "pinch 1.5");
	CHECK(g.mode == GESTURE_PINCHING);
	CHECK_STR_EQ(feed(&g, 1030, 5, GESTURE_UPDATE, 50, 100), "pinch 2");
	CHECK_STR_EQ(feed(&g, 1040, 5, GESTURE_END, 50, 100), "");
	CHECK_STR_EQ(feed(&g, 1050, 6, GESTURE_END, 250, 100), "");

	/* a second finger during a drag ends the drag; a third finger ends a pinch */
	feed(&g, 2000, 1, GESTURE_BEGIN, 10, 10);
	feed(&g, 2010, 1, GESTURE_UPDATE, 50, 10);
	CHECK_STR_EQ(feed(&g, 2020, 2, GESTURE_BEGIN, 90, 10), "release 1 50 10");
	CHECK(g.mode == GESTURE_FINISHED);
	feed(&g, 2030, 1, GESTURE_END, 50, 10);
	feed(&g, 2030, 2, GESTURE_END, 90, 10);
	CHECK(g.mode == GESTURE_IDLE);
	feed(&g, 3000, 1, GESTURE_BEGIN, 100, 100);
	feed(&g, 3000, 2, GESTURE_BEGIN, 200, 100);
	feed(&g, 3010, 2, GESTURE_UPDATE, 300, 100);
	CHECK_STR_EQ(feed(&g, 3020, 3, GESTURE_BEGIN, 5, 5), "");
	CHECK(g.mode == GESTURE_FINISHED);
	CHECK_STR_EQ(feed(&g, 3030, 2, GESTURE_UPDATE, 400, 100), "");
}

static void test_gesture_double_tap(void)
{
	struct gesture g = {0};

	/* not zoomed: a double tap is two clicks (a double click on the desktop) */
	feed(&g, 0, 1, GESTURE_BEGIN, 10, 10);
	CHECK_STR_EQ(feed(&g, 50, 1, GESTURE_END, 10, 10),
		     "move 10 10,press 1 10 10,release 1 10 10");
	feed(&g, 200, 2, GESTURE_BEGIN, 12, 11);
	CHECK_STR_EQ(feed(&g, 250, 2, GESTURE_END, 12, 11),
		     "move 12 11,press 1 12 11,release 1 12 11");
	/* zoomed: the second tap resets the zoom instead of clicking */
	g.zoomed = true;
	feed(&g, 1000, 3, GESTURE_BEGIN, 10, 10);
	CHECK_STR_EQ(feed(&g, 1050, 3, GESTURE_END, 10, 10),
		     "move 10 10,press 1 10 10,release 1 10 10");
	feed(&g, 1200, 4, GESTURE_BEGIN, 14, 10);
	CHECK_STR_EQ(feed(&g, 1250, 4, GESTURE_END, 14, 10), "reset");
	/* too late or too far: a plain tap */
	feed(&g, 2000, 5, GESTURE_BEGIN, 10, 10);
	feed(&g, 2050, 5, GESTURE_END, 10, 10);
	feed(&g, 2500, 6, GESTURE_BEGIN, 10, 10);
	CHECK_STR_EQ(feed(&g, 2550, 6, GESTURE_END, 10, 10),
		     "move 10 10,press 1 10 10,release 1 10 10");
	feed(&g, 2600, 7, GESTURE_BEGIN, 200, 10);
	CHECK_STR_EQ(feed(&g, 2650, 7, GESTURE_END, 200, 10),
		     "move 200 10,press 1 200 10,release 1 200 10");
}

static void test_pen(void)
{
	struct fit f = fit_compute(960, 600, 1920, 1080);
	struct pen_sample s = {.x = 400,
			       .y = 300,
			       .pressure = 0.5,
			       .tilt_x = -0.5,
			       .tilt_y = 2.0,
			       .in_range = true,
			       .contact = true};
	struct msg_pen p;

	CHECK(pen_map(&f, 1920, 1080, &s, &p));
	CHECK_INT_EQ(p.x, 800);
	CHECK_INT_EQ(p.y, 540);
	CHECK_INT_EQ(p.pressure, 32768);
	CHECK_INT_EQ(p.tilt_x, -45);
	CHECK_INT_EQ(p.tilt_y, 90); /* clamped to what the wire carries */
	CHECK_INT_EQ(p.flags, MSG_PEN_IN_RANGE | MSG_PEN_CONTACT);
	/* hovering eraser with both barrel buttons, no axes: no pressure, no tilt */
	s = (struct pen_sample){.x = 0,
				.y = 0,
				.pressure = NAN,
				.tilt_x = NAN,
				.tilt_y = NAN,
				.in_range = true,
				.eraser = true,
				.button1 = true,
				.button2 = true};
	CHECK(pen_map(&f, 1920, 1080, &s, &p));
	CHECK_INT_EQ(p.pressure, 0);
	CHECK_INT_EQ(p.tilt_x, 0);
	CHECK_INT_EQ(p.flags,
		     MSG_PEN_IN_RANGE | MSG_PEN_ERASER | MSG_PEN_BUTTON1 | MSG_PEN_BUTTON2);
	/* contact without a pressure axis is full pressure; pressure is clamped */
	s.pressure = NAN;
	s.contact = true;
	CHECK(pen_map(&f, 1920, 1080, &s, &p));
	CHECK_INT_EQ(p.pressure, 65535);
	s.pressure = -3;
	CHECK(pen_map(&f, 1920, 1080, &s, &p));
	CHECK_INT_EQ(p.pressure, 0);
	/* proximity out: no flags at all */
	s = (struct pen_sample){.x = 5, .y = 5, .pressure = 0};
	CHECK(pen_map(&f, 1920, 1080, &s, &p));
	CHECK_INT_EQ(p.flags, 0);
	/* every PEN we make is one the codec accepts */
	{
		struct msg m = {.type = MSG_PEN};
		uint8_t buf[64];
		size_t len;
		m.u.pen = p;
		CHECK_INT_EQ(msg_encode(&m, buf, sizeof(buf), &len), 0);
	}
	f = fit_compute(0, 0, 1920, 1080);
	CHECK(!pen_map(&f, 1920, 1080, &s, &p));
}

static void test_clipboard_check(void)
{
	CHECK_INT_EQ(clipboard_check("hello", 5, 5), 0);
	CHECK_INT_EQ(clipboard_check("hello", 5, 4), -EMSGSIZE);
	CHECK_INT_EQ(clipboard_check("he\0lo", 5, 100), -EINVAL);
	CHECK_INT_EQ(clipboard_check("", 0, 0), 0);
	CHECK(CLIPBOARD_CLIENT_MAX + 6 == (1u << 20)); /* 1 MiB frame = 4 + 1 + 1 + data */
}

static void test_frame_refs(void)
{
	struct ui_frame *f = calloc(1, sizeof(*f));

	CHECK(f != NULL);
	if (!f)
		return;
	f->refs = 1;
	CHECK(ui_frame_ref(f) == f);
	ui_frame_unref(f);
	ui_frame_unref(f); /* freed: ASan would say otherwise */
	ui_frame_unref(NULL);
	CHECK(ui_frame_ref(NULL) == NULL);
	net_event_free(NULL);
	net_free(NULL);
}

/* 1:1 with scrolling: exact pixels, offsets clamped, HiDPI, centring (issue #4). */
static void test_one_to_one(void)
{
	double ox = 960, oy = 480;
	struct fit f = fit_one_to_one(960, 600, 1920, 1080, 1, &ox, &oy);
	uint16_t x, y;

	CHECK(f.scale == 1.0 && f.w == 1920 && f.h == 1080);
	CHECK(f.x == -960 && f.y == -480);
	/* after scrolling to the end, window (100, 100) is desktop (1060, 580) */
	CHECK(fit_to_desktop(&f, 1920, 1080, 100, 100, &x, &y));
	CHECK_INT_EQ(x, 1060);
	CHECK_INT_EQ(y, 580);
	CHECK(fit_to_desktop(&f, 1920, 1080, 959.99, 599.99, &x, &y));
	CHECK_INT_EQ(x, 1919);
	CHECK_INT_EQ(y, 1079);

	/* offsets beyond the end (or negative, or NaN) are clamped, in and out */
	ox = 5000, oy = -3;
	f = fit_one_to_one(960, 600, 1920, 1080, 1, &ox, &oy);
	CHECK(ox == 960 && oy == 0 && f.x == -960 && f.y == 0);
	ox = 0.0 / 0.0, oy = 17.5;
	f = fit_one_to_one(960, 600, 1920, 1080, 1, &ox, &oy);
	CHECK(ox == 0 && oy == 17.5);
	CHECK(fit_to_desktop(&f, 1920, 1080, 0, 0, &x, &y));
	CHECK_INT_EQ(x, 0);
	CHECK_INT_EQ(y, 17);

	/* smaller than the window: centred, offsets forced to 0 */
	ox = oy = 50;
	f = fit_one_to_one(1920, 1080, 1280, 720, 1, &ox, &oy);
	CHECK(ox == 0 && oy == 0 && f.x == 320 && f.y == 180);
	CHECK(fit_to_desktop(&f, 1280, 720, 320, 180, &x, &y));
	CHECK_INT_EQ(x, 0);
	CHECK(!fit_to_desktop(&f, 1280, 720, 319, 180, &x, &y));

	/* HiDPI x2: a desktop pixel is half a logical pixel, offsets in logical pixels */
	ox = 100, oy = 0;
	f = fit_one_to_one(800, 600, 1920, 1080, 2, &ox, &oy);
	CHECK(f.scale == 0.5 && f.w == 960 && f.h == 540);
	CHECK(ox == 100 && f.x == -100 && oy == 0 && f.y == 30);
	CHECK(fit_to_desktop(&f, 1920, 1080, 10.25, 30.5, &x, &y));
	CHECK_INT_EQ(x, 220);
	CHECK_INT_EQ(y, 1);
	ox = 1000;
	f = fit_one_to_one(800, 600, 1920, 1080, 2, &ox, &oy);
	CHECK(ox == 160);

	/* nothing to show */
	ox = oy = 5;
	f = fit_one_to_one(0, 600, 1920, 1080, 1, &ox, &oy);
	CHECK(f.scale == 0 && ox == 0 && oy == 0);
	CHECK(!fit_to_desktop(&f, 1920, 1080, 1, 1, &x, &y));
	f = fit_one_to_one(800, 600, 0, 0, 0, &ox, &oy);
	CHECK(f.scale == 0);
}

/* "resize" scaling: one request per settled size, the newest one, never for the current size. */
static void test_resize_settle(void)
{
	struct resize_settle r = {0};
	int w = 0, h = 0, wait = 0;

	/* nothing known yet */
	CHECK(!resize_settle_due(&r, 0, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(wait, -1);

	/* a drag: 1000x700, 1010x705, 1112x778 within 150 ms; nothing until 200 ms of quiet */
	resize_settle_area(&r, 1000, 700, 1000);
	resize_settle_area(&r, 1010, 705, 1050);
	CHECK(!resize_settle_due(&r, 1100, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(wait, 150);
	resize_settle_area(&r, 1112, 778, 1150);
	CHECK(!resize_settle_due(&r, 1300, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(wait, 50);
	/* the same size reported again does not restart the wait */
	resize_settle_area(&r, 1112, 778, 1320);
	CHECK(resize_settle_due(&r, 1350, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(w, 1112);
	CHECK_INT_EQ(h, 778);
	/* asked once: not again, whether the desktop took it or rounded it */
	CHECK(!resize_settle_due(&r, 2000, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(wait, -1);
	CHECK(!resize_settle_due(&r, 2000, 1112, 776, &w, &h, &wait));

	/* the window back at the desktop's size: nothing to ask */
	resize_settle_area(&r, 1112, 776, 3000);
	CHECK(!resize_settle_due(&r, 4000, 1112, 776, &w, &h, &wait));
	CHECK_INT_EQ(wait, -1);

	/* a new session asks again for the same window */
	resize_settle_area(&r, 1112, 778, 5000);
	resize_settle_reset(&r);
	CHECK(resize_settle_due(&r, 5200, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(w, 1112);

	/* clamped to what RESIZE_REQUEST carries; a clamped size asked once */
	resize_settle_area(&r, 9000, 600, 6000);
	CHECK(resize_settle_due(&r, 6200, 1920, 1080, &w, &h, &wait));
	CHECK_INT_EQ(w, 8192);
	CHECK_INT_EQ(h, 600);
	resize_settle_area(&r, 9500, 600, 6300);
	CHECK(!resize_settle_due(&r, 6600, 1920, 1080, &w, &h, &wait));
}

/* The statistics overlay's text, and the decoder choice it reports. */
static void test_overlay_text(void)
{
	struct stats_overlay o = {
		.fps = 59.94,
		.kbps = 4210.4,
		.latency_ms = 11.84,
		.same_clock = true,
		.decode_ms = 3.21,
		.rtt_ms = 0.42,
		.decoder = "software (libavcodec h264, 2 threads)",
		.fallback = "cannot open the VAAPI device /dev/dri/renderD128: No such file",
		.renderer = "OpenGL (llvmpipe)",
		.desk_w = 1920,
		.desk_h = 1080,
		.scale = "1:1",
		.zoom = 1,
		.off_x = 960,
		.off_y = 480,
		.scale_factor = 1,
	};
	char buf[1024], small[16];
	struct stats_series sr;
	enum decoder_hw hw;
	int n;

	n = stats_overlay_format(&o, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n < sizeof(buf));
	CHECK_STR_EQ(buf, "59.9 fps   4210 kbit/s\n"
			  "capture→display 11.8 ms (same host)\n"
			  "decode 3.2 ms   RTT 0.4 ms\n"
			  "decoder software (libavcodec h264, 2 threads)\n"
			  "  no VAAPI: cannot open the VAAPI device /dev/dri/renderD128: No such "
			  "file\n"
			  "renderer OpenGL (llvmpipe)\n"
			  "desktop 1920x1080   1:1 at +960+480   HiDPI ×1");
	/* with stage times: the agent's line, then the client's */
	o.stages_agent = "capture 0.1  encode 3.9 ms";
	o.stages_client = "network 0.2  present 8.0 ms";
	stats_overlay_format(&o, buf, sizeof(buf));
	CHECK(strstr(buf, "RTT 0.4 ms\nagent  capture 0.1  encode 3.9 ms\n"
			  "client network 0.2  present 8.0 ms\ndecoder software") != NULL);
	o.stages_agent = o.stages_client = "";
	/* with sound: two more lines */
	o.audio = true;
	o.audio_kbps = 95.6;
	o.jitter_ms = 20.2;
	o.jitter_target_ms = 30;
	o.concealed = 3;
	o.audio_dropped = 1;
	o.lipsync_ms = 4.04;
	o.volume = 80;
	o.muted = true;
	o.mic = "live";
	stats_overlay_format(&o, buf, sizeof(buf));
	CHECK(strstr(buf, "HiDPI ×1\naudio 96 kbit/s   jitter 20/30 ms   concealed 3   dropped 1\n"
			  "lip sync +4.0 ms   volume 80 % (muted)   mic live") != NULL);
	o.lipsync_ms = NAN;
	stats_overlay_format(&o, buf, sizeof(buf));
	CHECK(strstr(buf, "lip sync – ms") != NULL);
	o.audio = false;
	/* unknown values, another host's clock, fit */
	o.fps = 0;
	o.kbps = o.latency_ms = o.decode_ms = o.rtt_ms = NAN;
	o.same_clock = false;
	o.fallback = "";
	o.decoder = NULL;
	o.scale = "fit";
	o.zoom = 0.5;
	o.scale_factor = 2;
	stats_overlay_format(&o, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "0.0 fps   – kbit/s\n"
			  "capture→display – ms (agent clock: valid if clocks are in sync)\n"
			  "decode – ms   RTT – ms\n"
			  "decoder –\n"
			  "renderer OpenGL (llvmpipe)\n"
			  "desktop 1920x1080   fit 0.50   HiDPI ×2");
	/* a short buffer is cut, never overrun */
	n = stats_overlay_format(&o, small, sizeof(small));
	CHECK(n >= (int)sizeof(small) && strlen(small) == sizeof(small) - 1);

	/* a period's median, then a fresh period */
	stats_series_init(&sr);
	for (int i = 1; i <= 5; i++)
		stats_series_add(&sr, i);
	CHECK(stats_series_percentile(&sr, 50) == 3);
	stats_series_reset(&sr);
	CHECK(isnan(stats_series_percentile(&sr, 50)));
	stats_series_add(&sr, 7);
	CHECK(stats_series_percentile(&sr, 50) == 7 && sr.count == 1);
	stats_series_deinit(&sr);

	CHECK(decoder_hw_parse("auto", &hw) == 0 && hw == DECODER_HW_AUTO);
	CHECK(decoder_hw_parse("software", &hw) == 0 && hw == DECODER_HW_SOFTWARE);
	CHECK(decoder_hw_parse("vaapi", &hw) == 0 && hw == DECODER_HW_VAAPI);
	CHECK(decoder_hw_parse("VAAPI", &hw) == -EINVAL && decoder_hw_parse(NULL, &hw) < 0);
	/* software and auto never fail the probe; a missing device does, saying which */
	CHECK(decoder_probe(DECODER_HW_SOFTWARE, NULL, buf, sizeof(buf)) == 0);
	CHECK(decoder_probe(DECODER_HW_AUTO, NULL, buf, sizeof(buf)) == 0);
	CHECK(decoder_probe(DECODER_HW_VAAPI, "/nonexistent/renderD200", buf, sizeof(buf)) ==
	      -ENOENT);
	CHECK(strstr(buf, "cannot open the VAAPI device /nonexistent/renderD200") != NULL);
}

/* A software decoder says what it is; auto with a missing device falls back and says why. */
static void test_decoder_choice(void)
{
	struct decoder_cfg cfg = {.threads = 2, .hw = DECODER_HW_SOFTWARE};
	struct decoder *d = decoder_new(&cfg);

	CHECK(d != NULL);
	if (d) {
		CHECK_STR_EQ(decoder_describe(d), "software (libavcodec h264, 2 threads)");
		CHECK(!decoder_is_hardware(d));
		CHECK_STR_EQ(decoder_fallback_reason(d), "");
		decoder_free(d);
	}
	cfg.hw = DECODER_HW_AUTO;
	cfg.device = "/nonexistent/renderD200";
	d = decoder_new(&cfg);
	CHECK(d != NULL);
	if (d) {
		CHECK(!decoder_is_hardware(d));
		CHECK(strncmp(decoder_describe(d), "software (", 10) == 0);
		CHECK(strstr(decoder_fallback_reason(d), "/nonexistent/renderD200") != NULL);
		decoder_free(d);
	}
	cfg.hw = DECODER_HW_VAAPI;
	CHECK(decoder_new(&cfg) == NULL); /* VAAPI or nothing */
}

int main(void)
{
	log_open("test_client_ui", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	test_fit();
	test_buttons();
	test_scroll();
	test_keys();
	test_combo();
	test_one_to_one();
	test_resize_settle();
	test_overlay_text();
	test_decoder_choice();
	test_gesture_one_finger();
	test_gesture_two_fingers();
	test_gesture_double_tap();
	test_pen();
	test_clipboard_check();
	test_retry_policy();
	test_frame_refs();
	test_net_thread();
	return check_done("test_client_ui");
}
