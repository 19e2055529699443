/* SPDX-License-Identifier: MIT */
/*
 * The login screen and the desktop picker (login.h); the broker side of
 * every connection is the client core's broker_login.
 */
#include "login.h"
#include "broker_client.h"
#include "broker_login.h"
#include "log.h"

#include <errno.h>
#include <gtk/gtk.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct login {
	char *url, *ca_file, *pin, *user, *pool; /* the window's */
	struct broker_login *bl; /* the broker side of every connection (client core) */

	/* the window (UI thread) */
	GtkWidget *win, *stack, *url_entry, *user_entry, *pw_entry, *remember, *button, *message,
		*list, *connect_button;
	struct broker_pool *pools;
	size_t npools;
	bool busy;
	void (*done)(struct login *l, void *ud);
	void *done_ud;
};

static char *dup_or_null(const char *s)
{
	return s && *s ? g_strdup(s) : NULL;
}

struct login *login_new(const struct broker_login_cfg *cfg)
{
	struct login *l = g_new0(struct login, 1);

	l->url = dup_or_null(cfg->broker_url);
	l->ca_file = dup_or_null(cfg->ca_file);
	l->pin = dup_or_null(cfg->pin);
	l->user = dup_or_null(cfg->user);
	l->pool = dup_or_null(cfg->pool);
	l->bl = broker_login_new(cfg);
	if (!l->bl) {
		login_free(l);
		return NULL;
	}
	return l;
}

void login_free(struct login *l)
{
	if (!l)
		return;
	broker_login_free(l->bl);
	g_free(l->url);
	g_free(l->ca_file);
	g_free(l->pin);
	g_free(l->user);
	g_free(l->pool);
	g_free(l->pools);
	g_free(l);
}

struct broker_login *login_broker(struct login *l)
{
	return l->bl;
}

/* ---- remembering the broker ---- */

static char *conf_path(void)
{
	return g_build_filename(g_get_user_config_dir(), "highrise", "client.conf", NULL);
}

static void remember_load(struct login *l)
{
	GKeyFile *kf = g_key_file_new();
	char *path = conf_path();

	if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) {
		char *url = g_key_file_get_string(kf, "broker", "url", NULL);
		char *ca = g_key_file_get_string(kf, "broker", "ca_file", NULL);
		char *user = g_key_file_get_string(kf, "broker", "user", NULL);
		if (!l->url && url) {
			l->url = url;
			url = NULL;
			if (!l->ca_file && ca) {
				l->ca_file = ca;
				ca = NULL;
			}
		}
		if (!l->user && user) {
			l->user = user;
			user = NULL;
		}
		g_free(url);
		g_free(ca);
		g_free(user);
	}
	g_free(path);
	g_key_file_free(kf);
}

static void remember_save(struct login *l, const char *url, const char *user)
{
	GKeyFile *kf = g_key_file_new();
	char *path = conf_path(), *dir = g_path_get_dirname(path);
	GError *e = NULL;

	g_key_file_set_string(kf, "broker", "url", url);
	if (l->ca_file)
		g_key_file_set_string(kf, "broker", "ca_file", l->ca_file);
	g_key_file_set_string(kf, "broker", "user", user);
	if (g_mkdir_with_parents(dir, 0700) < 0 || !g_key_file_save_to_file(kf, path, &e))
		log_warn("cannot remember the broker in %s: %s", path,
			 e ? e->message : g_strerror(errno));
	g_clear_error(&e);
	g_free(dir);
	g_free(path);
	g_key_file_free(kf);
}

/* ---- the window ---- */

struct attempt {
	char *url, *user, *password;
	struct broker_client *bc; /* made for url; handed to the login on success */
	int rc, retry_after_s;
	char err[1024];
	struct broker_pool *pools;
	size_t npools;
};

static void attempt_free(gpointer p)
{
	struct attempt *a = p;
	if (!a)
		return;
	g_free(a->url);
	g_free(a->user);
	if (a->password) {
		OPENSSL_cleanse(a->password, strlen(a->password));
		g_free(a->password);
	}
	broker_client_free(a->bc);
	free(a->pools);
	g_free(a);
}

/* GTask worker thread: log in and list the pools. */
static void attempt_run(GTask *task, gpointer src, gpointer data, GCancellable *c)
{
	struct attempt *a = data;
	(void)src;
	(void)c;
	if (!a->bc) {
		a->rc = -EINVAL;
		snprintf(a->err, sizeof(a->err),
			 "the broker's address must be https://HOST[:PORT]");
	} else {
		a->rc = broker_client_login(a->bc, a->user, a->password, &a->retry_after_s, a->err,
					    sizeof(a->err));
		OPENSSL_cleanse(a->password, strlen(a->password));
		if (a->rc == 0)
			a->rc = broker_client_pools(a->bc, &a->pools, &a->npools, a->err,
						    sizeof(a->err));
	}
	g_task_return_boolean(task, TRUE);
}

static void say(struct login *l, const char *text, bool error)
{
	char *m = g_markup_printf_escaped(error ? "<span foreground=\"#c01c28\">%s</span>" : "%s",
					  text);
	gtk_label_set_markup(GTK_LABEL(l->message), m);
	g_free(m);
}

static void set_busy(struct login *l, bool busy)
{
	l->busy = busy;
	gtk_widget_set_sensitive(l->button, !busy);
	gtk_widget_set_sensitive(l->url_entry, !busy);
	gtk_widget_set_sensitive(l->user_entry, !busy);
	gtk_widget_set_sensitive(l->pw_entry, !busy);
}

static void finish(struct login *l, const char *pool)
{
	void (*done)(struct login *, void *) = l->done;

	g_free(l->pool);
	l->pool = g_strdup(pool);
	if (broker_login_set_pool(l->bl, pool) < 0)
		log_error("out of memory");
	log_info("using pool %s", pool);
	g_signal_handlers_disconnect_by_data(l->win, l);
	gtk_widget_destroy(l->win);
	l->win = NULL;
	l->done = NULL;
	if (done)
		done(l, l->done_ud);
}

static gboolean focus_first_row(gpointer ud)
{
	struct login *l = ud;
	GtkListBoxRow *row = l->win ? gtk_list_box_get_selected_row(GTK_LIST_BOX(l->list)) : NULL;
	if (row)
		gtk_window_set_focus(GTK_WINDOW(l->win), GTK_WIDGET(row));
	return G_SOURCE_REMOVE;
}

static void show_picker(struct login *l)
{
	GList *old = gtk_container_get_children(GTK_CONTAINER(l->list));
	GtkListBoxRow *first;

	for (GList *i = old; i; i = i->next)
		gtk_widget_destroy(i->data);
	g_list_free(old);
	for (size_t i = 0; i < l->npools; i++) {
		char *text = g_strdup_printf("%s  (%s)", l->pools[i].name,
					     l->pools[i].kind[0] ? l->pools[i].kind : "pool");
		GtkWidget *label = gtk_label_new(text);
		gtk_widget_set_halign(label, GTK_ALIGN_START);
		g_object_set(label, "margin", 8, NULL);
		gtk_list_box_insert(GTK_LIST_BOX(l->list), label, -1);
		g_free(text);
	}
	gtk_widget_show_all(l->list);
	gtk_stack_set_visible_child_name(GTK_STACK(l->stack), "picker");
	first = gtk_list_box_get_row_at_index(GTK_LIST_BOX(l->list), 0);
	gtk_list_box_select_row(GTK_LIST_BOX(l->list), first);
	gtk_window_set_default(GTK_WINDOW(l->win), l->connect_button);
	/* the keyboard walks the list (Up/Down, Return) once the page is on screen */
	g_idle_add(focus_first_row, l);
}

static void attempt_done(GObject *src, GAsyncResult *res, gpointer ud)
{
	struct login *l = ud;
	struct attempt *a = g_task_get_task_data(G_TASK(res));
	(void)src;

	set_busy(l, false);
	if (a->rc < 0) {
		char m[1200];
		if (a->rc == -EAGAIN && a->retry_after_s > 0)
			snprintf(m, sizeof(m), "%s (try again in %d s)", a->err, a->retry_after_s);
		else
			snprintf(m, sizeof(m), "%s", a->err);
		say(l, m, true);
		log_warn("login: %s", m);
		gtk_widget_grab_focus(a->rc == -EACCES ? l->pw_entry : l->url_entry);
		return;
	}
	if (a->npools == 0) {
		say(l,
		    "You may not use any desktop pool. Ask your administrator to entitle you "
		    "to one.",
		    true);
		return;
	}
	if (gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(l->remember)))
		remember_save(l, a->url, a->user);
	/* the login now owns the broker client and its token */
	broker_login_use(l->bl, a->bc);
	a->bc = NULL;
	g_free(l->pools);
	l->pools = g_memdup2(a->pools, a->npools * sizeof(*a->pools));
	l->npools = a->npools;
	if (l->pool) {
		for (size_t i = 0; i < l->npools; i++)
			if (!strcmp(l->pools[i].name, l->pool)) {
				finish(l, l->pool);
				return;
			}
		say(l, "You may not use the pool given with --pool: choose one.", true);
	} else if (l->npools == 1) {
		finish(l, l->pools[0].name);
		return;
	}
	show_picker(l);
}

static void login_clicked(GtkWidget *b, gpointer ud)
{
	struct login *l = ud;
	struct broker_client_cfg bcfg = {.ca_file = l->ca_file, .pin = l->pin};
	struct attempt *a;
	GTask *task;
	(void)b;

	if (l->busy)
		return;
	a = g_new0(struct attempt, 1);
	a->url = g_strstrip(g_strdup(gtk_entry_get_text(GTK_ENTRY(l->url_entry))));
	a->user = g_strstrip(g_strdup(gtk_entry_get_text(GTK_ENTRY(l->user_entry))));
	a->password = g_strdup(gtk_entry_get_text(GTK_ENTRY(l->pw_entry)));
	if (!a->url[0] || !a->user[0]) {
		say(l,
		    !a->url[0] ? "Enter the broker's address (https://HOST:PORT)."
			       : "Enter your user name.",
		    true);
		attempt_free(a);
		return;
	}
	if (!g_str_has_prefix(a->url, "https://")) {
		char *u = g_strconcat("https://", a->url, NULL);
		g_free(a->url);
		a->url = u;
	}
	bcfg.url = a->url;
	a->bc = broker_client_new(&bcfg);
	/* the password entry is cleared right away: its text lives only in the attempt */
	gtk_entry_set_text(GTK_ENTRY(l->pw_entry), "");
	set_busy(l, true);
	say(l, "Logging in…", false);
	task = g_task_new(NULL, NULL, attempt_done, l);
	g_task_set_task_data(task, a, attempt_free);
	g_task_run_in_thread(task, attempt_run);
	g_object_unref(task);
}

static void pool_chosen(struct login *l)
{
	GtkListBoxRow *row = gtk_list_box_get_selected_row(GTK_LIST_BOX(l->list));
	int i = row ? gtk_list_box_row_get_index(row) : -1;
	if (i >= 0 && (size_t)i < l->npools)
		finish(l, l->pools[i].name);
}

static void row_activated(GtkListBox *box, GtkListBoxRow *row, gpointer ud)
{
	(void)box;
	log_debug("picker: row %d activated", gtk_list_box_row_get_index(row));
	pool_chosen(ud);
}

static void connect_clicked(GtkWidget *b, gpointer ud)
{
	(void)b;
	log_debug("picker: connect clicked");
	pool_chosen(ud);
}

static void closed(GtkWidget *w, gpointer ud)
{
	struct login *l = ud;
	(void)w;
	l->win = NULL;
	gtk_main_quit();
}

/* The picker by keyboard, wherever the focus is: Up/Down choose, Return connects. */
static gboolean picker_key(GtkWidget *w, GdkEventKey *e, gpointer ud)
{
	struct login *l = ud;
	GtkListBoxRow *row;
	int i;
	(void)w;

	if (strcmp(gtk_stack_get_visible_child_name(GTK_STACK(l->stack)), "picker") != 0)
		return FALSE;
	row = gtk_list_box_get_selected_row(GTK_LIST_BOX(l->list));
	i = row ? gtk_list_box_row_get_index(row) : 0;
	switch (e->keyval) {
	case GDK_KEY_Up:
	case GDK_KEY_KP_Up:
		i = i > 0 ? i - 1 : 0;
		break;
	case GDK_KEY_Down:
	case GDK_KEY_KP_Down:
		i = (size_t)i + 1 < l->npools ? i + 1 : i;
		break;
	case GDK_KEY_Return:
	case GDK_KEY_KP_Enter:
		pool_chosen(l);
		return TRUE;
	default:
		return FALSE;
	}
	row = gtk_list_box_get_row_at_index(GTK_LIST_BOX(l->list), i);
	gtk_list_box_select_row(GTK_LIST_BOX(l->list), row);
	gtk_widget_grab_focus(GTK_WIDGET(row));
	return TRUE;
}

static GtkWidget *row_label(const char *text)
{
	GtkWidget *lab = gtk_label_new_with_mnemonic(text);
	gtk_widget_set_halign(lab, GTK_ALIGN_END);
	return lab;
}

static void build(struct login *l)
{
	GtkWidget *grid, *title, *picker, *scroll, *hint;
	char *url_text;

	l->win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
	gtk_window_set_title(GTK_WINDOW(l->win), "Highrise — log in");
	gtk_window_set_default_size(GTK_WINDOW(l->win), 420, -1);
	gtk_window_set_position(GTK_WINDOW(l->win), GTK_WIN_POS_CENTER);
	g_signal_connect(l->win, "destroy", G_CALLBACK(closed), l);
	g_signal_connect(l->win, "key-press-event", G_CALLBACK(picker_key), l);
	l->stack = gtk_stack_new();
	gtk_container_add(GTK_CONTAINER(l->win), l->stack);

	grid = gtk_grid_new();
	g_object_set(grid, "margin", 18, "row-spacing", 8, "column-spacing", 10, NULL);
	title = gtk_label_new(NULL);
	gtk_label_set_markup(GTK_LABEL(title), "<big><b>Log in to your desktop</b></big>");
	gtk_grid_attach(GTK_GRID(grid), title, 0, 0, 2, 1);
	l->url_entry = gtk_entry_new();
	gtk_entry_set_placeholder_text(GTK_ENTRY(l->url_entry), "https://broker.example.com:8443");
	gtk_widget_set_hexpand(l->url_entry, TRUE);
	url_text = l->url ? g_strdup(l->url) : NULL;
	if (url_text)
		gtk_entry_set_text(GTK_ENTRY(l->url_entry), url_text);
	g_free(url_text);
	l->user_entry = gtk_entry_new();
	if (l->user)
		gtk_entry_set_text(GTK_ENTRY(l->user_entry), l->user);
	l->pw_entry = gtk_entry_new();
	gtk_entry_set_visibility(GTK_ENTRY(l->pw_entry), FALSE);
	gtk_entry_set_input_purpose(GTK_ENTRY(l->pw_entry), GTK_INPUT_PURPOSE_PASSWORD);
	gtk_entry_set_activates_default(GTK_ENTRY(l->pw_entry), TRUE);
	gtk_entry_set_activates_default(GTK_ENTRY(l->user_entry), TRUE);
	gtk_entry_set_activates_default(GTK_ENTRY(l->url_entry), TRUE);
	gtk_grid_attach(GTK_GRID(grid), row_label("_Broker"), 0, 1, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), l->url_entry, 1, 1, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), row_label("_User"), 0, 2, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), l->user_entry, 1, 2, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), row_label("_Password"), 0, 3, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), l->pw_entry, 1, 3, 1, 1);
	l->remember = gtk_check_button_new_with_mnemonic("_Remember the broker and user");
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(l->remember), TRUE);
	gtk_grid_attach(GTK_GRID(grid), l->remember, 1, 4, 1, 1);
	l->message = gtk_label_new("");
	gtk_label_set_line_wrap(GTK_LABEL(l->message), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(l->message), 50);
	gtk_grid_attach(GTK_GRID(grid), l->message, 0, 5, 2, 1);
	l->button = gtk_button_new_with_mnemonic("_Log in");
	gtk_widget_set_can_default(l->button, TRUE);
	gtk_widget_set_halign(l->button, GTK_ALIGN_END);
	g_signal_connect(l->button, "clicked", G_CALLBACK(login_clicked), l);
	gtk_grid_attach(GTK_GRID(grid), l->button, 1, 6, 1, 1);
	gtk_stack_add_named(GTK_STACK(l->stack), grid, "login");

	picker = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
	g_object_set(picker, "margin", 18, NULL);
	hint = gtk_label_new(NULL);
	gtk_label_set_markup(GTK_LABEL(hint), "<big><b>Choose a desktop</b></big>");
	gtk_box_pack_start(GTK_BOX(picker), hint, FALSE, FALSE, 0);
	scroll = gtk_scrolled_window_new(NULL, NULL);
	gtk_scrolled_window_set_min_content_height(GTK_SCROLLED_WINDOW(scroll), 160);
	l->list = gtk_list_box_new();
	gtk_list_box_set_activate_on_single_click(GTK_LIST_BOX(l->list), FALSE);
	g_signal_connect(l->list, "row-activated", G_CALLBACK(row_activated), l);
	gtk_container_add(GTK_CONTAINER(scroll), l->list);
	gtk_box_pack_start(GTK_BOX(picker), scroll, TRUE, TRUE, 0);
	l->connect_button = gtk_button_new_with_mnemonic("_Connect");
	gtk_widget_set_can_default(l->connect_button, TRUE);
	gtk_widget_set_halign(l->connect_button, GTK_ALIGN_END);
	g_signal_connect(l->connect_button, "clicked", G_CALLBACK(connect_clicked), l);
	gtk_box_pack_start(GTK_BOX(picker), l->connect_button, FALSE, FALSE, 0);
	gtk_stack_add_named(GTK_STACK(l->stack), picker, "picker");

	gtk_widget_show_all(l->win);
	gtk_stack_set_visible_child_name(GTK_STACK(l->stack), "login");
	gtk_window_set_default(GTK_WINDOW(l->win), l->button);
	gtk_widget_grab_focus(!l->url ? l->url_entry : !l->user ? l->user_entry : l->pw_entry);
}

void login_run(struct login *l, void (*done)(struct login *l, void *ud), void *ud)
{
	l->done = done;
	l->done_ud = ud;
	if (broker_login_automatic(l->bl)) {
		/* the kiosk: broker_login_prepare logs in on the net thread, the status page shows it */
		l->done = NULL;
		done(l, ud);
		return;
	}
	remember_load(l);
	build(l);
}
