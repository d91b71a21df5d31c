// icons.js: a few line icons drawn as inline SVG (static path data, no user input).
const NS = 'http://www.w3.org/2000/svg';

const PATHS = {
  search: ['M10.5 4a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13z', 'M15.5 15.5L21 21'],
  plus: ['M12 5v14', 'M5 12h14'],
  back: ['M15 5l-7 7 7 7'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  send: ['M4 12l16-8-5 16-3-6.5z', 'M12 13.5L20 4'],
  more: ['M6 12h.01', 'M12 12h.01', 'M18 12h.01'],
  sliders: ['M4 7h9', 'M17 7h3', 'M15 5v4', 'M4 17h3', 'M11 17h9', 'M9 15v4'],
  shield: ['M12 3l8 3v6c0 4.6-3.4 8-8 9-4.6-1-8-4.4-8-9V6z', 'M8.5 12l2.5 2.5 4.5-5'],
  reply: ['M10 8L5 12.5 10 17', 'M5 12.5h9a5 5 0 0 1 5 5V19'],
  user: ['M12 4a4 4 0 1 1 0 8 4 4 0 0 1 0-8z', 'M4.5 20c1.2-3.6 4-5.5 7.5-5.5s6.3 1.9 7.5 5.5'],
  warn: ['M12 4l9 16H3z', 'M12 10v4.5', 'M12 17.5h.01'],
};

export function icon(name, label) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon icon-' + name);
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  for (const d of PATHS[name] || []) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}
