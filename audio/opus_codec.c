/* SPDX-License-Identifier: MIT */
#include "opus_codec.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>

struct opus_enc {
	OpusEncoder *st;
	int frame_samples;
	bool dtx;
};

struct opus_dec {
	OpusDecoder *st;
	struct opus_dec_stats stats;
};

const char *opus_codec_strerror(int err)
{
	switch (err) {
	case OPUS_CODEC_EMALFORMED:
		return "not an Opus packet (libopus cannot parse it)";
	case OPUS_CODEC_ECHANNELS:
		return "an Opus packet with the wrong channel count (we take stereo only)";
	case OPUS_CODEC_ETOOLONG:
		return "an Opus packet longer than 120 ms or than the output buffer";
	case OPUS_CODEC_EDECODE:
		return "libopus could not decode the packet";
	case OPUS_CODEC_EENCODE:
		return "libopus could not encode the frame";
	default:
		return hr_strerror(err);
	}
}

static const char *const app_names[] = {
	[OPUS_CODEC_APP_LOWDELAY] = "lowdelay",
	[OPUS_CODEC_APP_AUDIO] = "audio",
	[OPUS_CODEC_APP_VOIP] = "voip",
};

int opus_codec_app_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(app_names) / sizeof(app_names[0]); i++)
		if (strcmp(name, app_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *opus_codec_app_name(enum opus_codec_app app)
{
	if ((unsigned)app >= sizeof(app_names) / sizeof(app_names[0]))
		return "?";
	return app_names[app];
}

static int frame_samples_for(int frame_us)
{
	switch (frame_us) {
	case 2500:
	case 5000:
	case 10000:
	case 20000:
		return frame_us * (OPUS_CODEC_RATE / 1000) / 1000;
	default:
		return -1;
	}
}

struct opus_enc *opus_enc_new(const struct opus_enc_cfg *cfg)
{
	static const struct opus_enc_cfg defaults = {0};
	if (!cfg)
		cfg = &defaults;
	int frame_us = cfg->frame_us ? cfg->frame_us : 10000;
	int bitrate = cfg->bitrate ? cfg->bitrate : 96000;
	int samples = frame_samples_for(frame_us);
	int application;
	int err;

	switch (cfg->app) {
	case OPUS_CODEC_APP_LOWDELAY:
		application = OPUS_APPLICATION_RESTRICTED_LOWDELAY;
		break;
	case OPUS_CODEC_APP_AUDIO:
		application = OPUS_APPLICATION_AUDIO;
		break;
	case OPUS_CODEC_APP_VOIP:
		application = OPUS_APPLICATION_VOIP;
		break;
	default:
		log_error("opus: unknown application %d", (int)cfg->app);
		return NULL;
	}
	if (samples < 0) {
		log_error("opus: frame of %d us: Opus takes 2500, 5000, 10000 or 20000", frame_us);
		return NULL;
	}
	if (bitrate < 6000 || bitrate > 510000) {
		log_error("opus: bitrate %d bit/s outside 6000..510000", bitrate);
		return NULL;
	}
	if (cfg->loss_pct < 0 || cfg->loss_pct > 100) {
		log_error("opus: expected loss %d%% outside 0..100", cfg->loss_pct);
		return NULL;
	}

	struct opus_enc *enc = calloc(1, sizeof(*enc));
	if (!enc) {
		log_error("opus: out of memory");
		return NULL;
	}
	enc->st = opus_encoder_create(OPUS_CODEC_RATE, OPUS_CODEC_CHANNELS, application, &err);
	if (!enc->st) {
		log_error("opus: opus_encoder_create: %s", opus_strerror(err));
		goto fail;
	}
	enc->frame_samples = samples;
	enc->dtx = !cfg->no_dtx;
	if (opus_encoder_ctl(enc->st, OPUS_SET_BITRATE(bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(enc->st, OPUS_SET_DTX(enc->dtx ? 1 : 0)) != OPUS_OK ||
	    opus_encoder_ctl(enc->st, OPUS_SET_INBAND_FEC(cfg->no_fec ? 0 : 1)) != OPUS_OK ||
	    opus_encoder_ctl(enc->st, OPUS_SET_PACKET_LOSS_PERC(cfg->loss_pct)) != OPUS_OK) {
		log_error("opus: the encoder refused its settings");
		goto fail;
	}
	return enc;
fail:
	opus_encoder_destroy(enc->st);
	free(enc);
	return NULL;
}

void opus_enc_free(struct opus_enc *enc)
{
	if (!enc)
		return;
	opus_encoder_destroy(enc->st);
	free(enc);
}

int opus_enc_frame_samples(const struct opus_enc *enc)
{
	return enc->frame_samples;
}

int opus_enc_encode(struct opus_enc *enc, const int16_t *pcm, uint8_t *out, size_t cap)
{
	if (!pcm || !out || cap <= OPUS_CODEC_DTX_BYTES)
		return -EINVAL;
	if (cap > OPUS_CODEC_MAX_PACKET)
		cap = OPUS_CODEC_MAX_PACKET;
	opus_int32 n = opus_encode(enc->st, pcm, enc->frame_samples, out, (opus_int32)cap);
	if (n < 0) {
		log_debug("opus: opus_encode: %s", opus_strerror(n));
		return OPUS_CODEC_EENCODE;
	}
	if (enc->dtx && n <= OPUS_CODEC_DTX_BYTES)
		return 0;
	return n;
}

int opus_enc_set_loss(struct opus_enc *enc, int loss_pct)
{
	if (loss_pct < 0 || loss_pct > 100)
		return -EINVAL;
	return opus_encoder_ctl(enc->st, OPUS_SET_PACKET_LOSS_PERC(loss_pct)) == OPUS_OK ? 0
											 : -EINVAL;
}

int opus_enc_set_bitrate(struct opus_enc *enc, int bitrate)
{
	if (bitrate < 6000 || bitrate > 510000)
		return -EINVAL;
	return opus_encoder_ctl(enc->st, OPUS_SET_BITRATE(bitrate)) == OPUS_OK ? 0 : -EINVAL;
}

struct opus_dec *opus_dec_new(void)
{
	int err;
	struct opus_dec *dec = calloc(1, sizeof(*dec));

	if (!dec) {
		log_error("opus: out of memory");
		return NULL;
	}
	dec->st = opus_decoder_create(OPUS_CODEC_RATE, OPUS_CODEC_CHANNELS, &err);
	if (!dec->st) {
		log_error("opus: opus_decoder_create: %s", opus_strerror(err));
		free(dec);
		return NULL;
	}
	return dec;
}

void opus_dec_free(struct opus_dec *dec)
{
	if (!dec)
		return;
	opus_decoder_destroy(dec->st);
	free(dec);
}

int opus_dec_check(const uint8_t *packet, size_t len)
{
	/*
	 * opus_packet_get_nb_samples parses the TOC and frame count (RFC 6716
	 * §3.1-3.2) and refuses what is longer than 120 ms; it does not check
	 * the frame lengths, which opus_decode does (OPUS_INVALID_PACKET).
	 */
	if (!packet || len == 0 || len > 65535) /* 48 frames of 1275 bytes fit */
		return OPUS_CODEC_EMALFORMED;
	int n = opus_packet_get_nb_samples(packet, (opus_int32)len, OPUS_CODEC_RATE);
	if (n == OPUS_INVALID_PACKET && opus_packet_get_nb_frames(packet, (opus_int32)len) > 0)
		return OPUS_CODEC_ETOOLONG; /* parseable, but more than 120 ms */
	if (n <= 0)
		return OPUS_CODEC_EMALFORMED;
	if (n > OPUS_CODEC_MAX_SAMPLES)
		return OPUS_CODEC_ETOOLONG;
	if (opus_packet_get_nb_channels(packet) != OPUS_CODEC_CHANNELS)
		return OPUS_CODEC_ECHANNELS;
	return n;
}

static int refuse(struct opus_dec *dec, int err)
{
	dec->stats.refused++;
	if (err == OPUS_CODEC_EMALFORMED || err == OPUS_CODEC_EDECODE)
		dec->stats.malformed++;
	else if (err == OPUS_CODEC_ECHANNELS)
		dec->stats.channels++;
	else if (err == OPUS_CODEC_ETOOLONG)
		dec->stats.too_long++;
	return err;
}

int opus_dec_decode(struct opus_dec *dec, const uint8_t *packet, size_t len, int16_t *out,
		    int out_cap)
{
	if (!out || out_cap <= 0)
		return -EINVAL;
	int n = opus_dec_check(packet, len);
	if (n < 0)
		return refuse(dec, n);
	if (n > out_cap)
		return refuse(dec, OPUS_CODEC_ETOOLONG);
	/* frame_size = out_cap: libopus never writes more than that many samples per channel. */
	int got = opus_decode(dec->st, packet, (opus_int32)len, out, out_cap, 0);
	if (got < 0) {
		log_debug("opus: opus_decode: %s", opus_strerror(got));
		return refuse(dec, OPUS_CODEC_EDECODE);
	}
	dec->stats.packets++;
	return got;
}

/* SILK-only (configs 0-11) and hybrid (12-15) packets may carry LBRR (FEC) data; CELT never. */
static bool may_have_fec(const uint8_t *packet)
{
	return (packet[0] >> 3) < 16;
}

int opus_dec_conceal(struct opus_dec *dec, const uint8_t *next, size_t next_len, int samples,
		     int16_t *out, int out_cap)
{
	if (!out || samples <= 0 || samples % 120 != 0 || samples > OPUS_CODEC_MAX_SAMPLES ||
	    samples > out_cap)
		return -EINVAL;
	if (next && next_len > 0 && opus_dec_check(next, next_len) > 0 && may_have_fec(next)) {
		int got = opus_decode(dec->st, next, (opus_int32)next_len, out, samples, 1);
		if (got == samples) {
			dec->stats.recovered++;
			return got;
		}
	}
	int got = opus_decode(dec->st, NULL, 0, out, samples, 0);
	if (got < 0) {
		log_debug("opus: concealment: %s", opus_strerror(got));
		return OPUS_CODEC_EDECODE;
	}
	dec->stats.concealed++;
	return got;
}

void opus_dec_stats(const struct opus_dec *dec, struct opus_dec_stats *out)
{
	*out = dec->stats;
}
