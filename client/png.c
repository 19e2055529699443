/* SPDX-License-Identifier: MIT */
#include "png.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libpng's own header, named so that this module's "png.h" cannot shadow it */
#include <libpng16/png.h>

int png_write_file(const char *path, const uint8_t *rgb, int width, int height, int stride)
{
	png_image image;
	char *tmp;
	FILE *f;
	int fd, err = 0;

	if (!path || !rgb || width < 1 || height < 1 || width > 65535 || height > 65535 ||
	    stride / 3 < width)
		return -EINVAL;
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		log_error("png: cannot create a file next to %s: %s", path, strerror(errno));
		free(tmp);
		return err;
	}
	f = fdopen(fd, "wb");
	if (!f) {
		err = -errno;
		close(fd);
		goto out;
	}
	memset(&image, 0, sizeof(image));
	image.version = PNG_IMAGE_VERSION;
	image.width = (png_uint_32)width;
	image.height = (png_uint_32)height;
	image.format = PNG_FORMAT_RGB;
	if (!png_image_write_to_stdio(&image, f, 0, rgb, stride, NULL)) {
		log_error("png: cannot write %s: %s", path, image.message);
		png_image_free(&image);
		fclose(f);
		err = -EIO;
		goto out;
	}
	if (fflush(f) != 0 || ferror(f)) {
		err = -errno;
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		err = -errno;
		goto out;
	}
	if (rename(tmp, path) < 0)
		err = -errno;
out:
	if (err < 0) {
		if (err != -EIO)
			log_error("png: cannot write %s: %s", path, strerror(-err));
		unlink(tmp);
	}
	free(tmp);
	return err;
}
