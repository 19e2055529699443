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

#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
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
	/* any bytes do: the ticket is opaque to the client and nobody will read it */
	CHECK(write(fd, "\x01ticket", 7) == 7);
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
	net_ack(n, 1, 2);
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

int main(void)
{
	log_open("test_client_ui", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	test_fit();
	test_buttons();
	test_scroll();
	test_keys();
	test_combo();
	test_retry_policy();
	test_frame_refs();
	test_net_thread();
	return check_done("test_client_ui");
}
