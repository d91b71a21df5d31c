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
  group: ['M9 5a3.5 3.5 0 1 1 0 7 3.5 3.5 0 0 1 0-7z', 'M2.5 19c.9-3 3.3-4.8 6.5-4.8s5.6 1.8 6.5 4.8', 'M16 5.5a3 3 0 0 1 0 6', 'M18 14.5c1.7.6 2.9 2 3.5 4.5'],
  smile: ['M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z', 'M8.5 14.5c1.8 2 5.2 2 7 0', 'M9 9.5h.01', 'M15 9.5h.01'],
  bell: ['M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z', 'M10 20.5a2 2 0 0 0 4 0'],
  'bell-off': ['M6 16V11a6 6 0 0 1 9.5-4.9', 'M18 11v5l1.5 2H7', 'M10 20.5a2 2 0 0 0 4 0', 'M4 4l16 16'],
  info: ['M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z', 'M12 11v5', 'M12 7.5h.01'],
  copy: ['M9 9h10v11H9z', 'M5 15V4h10'],
  forward: ['M14 8l5 4.5-5 4.5', 'M19 12.5h-9a5 5 0 0 0-5 5V19'],
  trash: ['M5 7h14', 'M10 7V4.5h4V7', 'M7 7l1 13h8l1-13'],
  edit: ['M5 19l1-4L16 5l3 3L9 18z'],
  clip: ['M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.2-8.2a3.4 3.4 0 0 1 4.8 4.8l-8.1 8.1a1.7 1.7 0 0 1-2.4-2.4l7.4-7.4'],
  mic: ['M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M5.5 11.5a6.5 6.5 0 0 0 13 0', 'M12 18v3'],
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
