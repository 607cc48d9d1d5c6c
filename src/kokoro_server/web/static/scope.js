// The waveform display: a live trace and level while audio plays (from an AnalyserNode), and a still
// picture of the whole clip with the play position otherwise.

const GAIN = 2.5; // speech rarely nears full scale: magnify the trace

export class Scope {
  constructor(canvas) {
    this.canvas = canvas;
    this.graphics = canvas.getContext("2d");
    this.analyser = null;
    this.frame = 0;
    this.peaks = null; // Float32Array, or null before any clip
    this.position = 0; // 0..1 of the clip played
    this.samples = null;
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  resize() {
    const box = this.canvas.getBoundingClientRect();
    const scale = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(box.width * scale));
    this.canvas.height = Math.max(1, Math.round(box.height * scale));
    this.draw();
  }

  get columns() {
    return Math.max(1, Math.floor(this.canvas.width / (3 * (window.devicePixelRatio || 1))));
  }

  /** Draw what the analyser hears, every frame, until still() is called. */
  live(analyser) {
    this.analyser = analyser;
    this.samples = new Float32Array(analyser.fftSize);
    if (!this.frame) {
      const loop = () => {
        this.draw();
        this.frame = this.analyser ? requestAnimationFrame(loop) : 0;
      };
      this.frame = requestAnimationFrame(loop);
    }
  }

  still(peaks = this.peaks, position = this.position) {
    this.analyser = null;
    this.peaks = peaks;
    this.position = position;
    this.draw();
  }

  colors() {
    const style = getComputedStyle(this.canvas);
    const color = (name) => style.getPropertyValue(name).trim();
    return { wave: color("--scope-wave"), dim: color("--scope-dim"), grid: color("--scope-grid") };
  }

  draw() {
    const g = this.graphics;
    const { width, height } = this.canvas;
    const colors = this.colors();
    g.clearRect(0, 0, width, height);
    g.fillStyle = colors.grid;
    g.fillRect(0, Math.floor(height / 2), width, Math.max(1, Math.round(height / 120)));
    if (this.analyser) this.drawLive(colors, width, height);
    else if (this.peaks) this.drawClip(colors, width, height);
  }

  drawLive(colors, width, height) {
    const g = this.graphics;
    const samples = this.samples;
    this.analyser.getFloatTimeDomainData(samples);
    let energy = 0;
    g.strokeStyle = colors.wave;
    g.lineWidth = Math.max(1.5, height / 70);
    g.lineJoin = "round";
    g.beginPath();
    for (let i = 0; i < samples.length; i++) {
      const x = (i / (samples.length - 1)) * width;
      const y = height / 2 - Math.max(-1, Math.min(1, samples[i] * GAIN)) * height * 0.45;
      energy += samples[i] * samples[i];
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    }
    g.stroke();
    const level = Math.min(1, Math.sqrt(energy / samples.length) * 4); // rms, scaled for speech
    g.fillStyle = colors.wave;
    g.globalAlpha = 0.25;
    g.fillRect(0, height - height / 14, width * level, height / 14);
    g.globalAlpha = 1;
  }

  drawClip(colors, width, height) {
    const g = this.graphics;
    const peaks = this.peaks;
    const step = width / peaks.length;
    const played = this.position * width;
    const scale = 0.9 / Math.max(0.05, ...peaks); // the loudest moment fills the height
    for (let i = 0; i < peaks.length; i++) {
      const bar = Math.max(1, peaks[i] * height * scale);
      const x = i * step;
      g.fillStyle = x < played ? colors.wave : colors.dim;
      g.fillRect(x + step * 0.15, (height - bar) / 2, Math.max(1, step * 0.7), bar);
    }
  }
}
