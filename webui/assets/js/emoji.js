// emoji.js: a small emoji picker (a grid of buttons in a popover) for the composer and for
// reactions. Arrow keys move through the grid, Enter picks, Escape closes and gives focus
// back to the button that opened it.
import { h } from './dom.js';

export const EMOJI = [
  ['Smileys', '😀 😃 😄 😁 😆 😅 😂 🤣 😊 😇 🙂 😉 😍 🥰 😘 😋 😜 🤪 🤔 🤨 😐 😑 😶 🙄 😏 😬 😌 😴 😷 🤒 🤯 🥳 😎 🤓 😕 😟 😮 😲 😳 🥺 😢 😭 😱 😤 😡 🤬'],
  ['Gestures', '👍 👎 👌 ✌️ 🤞 🤝 👏 🙌 👋 🙏 💪 👀 🫶 ❤️ 🧡 💛 💚 💙 💜 🖤 💔 💯 ✨ 🔥 🎉 🎂 🎁'],
  ['Things', '☕ 🍕 🍔 🍟 🍰 🍺 🍷 🥂 ⚽ 🏃 🚲 🚗 ✈️ 🏠 🌞 🌧️ ❄️ 🌈 🌸 🐶 🐱 📷 💻 📱 📅 ⏰ ✅ ❌ ❓ ❗'],
].map(([name, list]) => [name, list.split(' ')]);

const COLS = 8;

// openPicker shows the picker next to anchor inside container; onPick(emoji) is called for
// the chosen one. It returns a close function.
export function openPicker(container, anchor, onPick, label) {
  const close = () => {
    pop.remove();
    document.removeEventListener('pointerdown', outside, true);
    if (anchor.isConnected) anchor.focus();
  };
  const buttons = [];
  const pop = h('div.emoji-picker', { role: 'dialog', 'aria-label': label || 'Pick an emoji' },
    EMOJI.map(([name, list]) => h('div.emoji-group',
      h('div.emoji-group-name', { id: 'emoji-g-' + name }, name),
      h('div.emoji-grid', { role: 'group', 'aria-labelledby': 'emoji-g-' + name }, list.map((e) => {
        const b = h('button.emoji', { type: 'button', 'aria-label': e, onclick: () => { close(); onPick(e); } }, e);
        buttons.push(b);
        return b;
      })),
    )),
  );
  pop.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    let j = -1;
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
      return;
    }
    if (e.key === 'ArrowRight') j = i + 1;
    else if (e.key === 'ArrowLeft') j = i - 1;
    else if (e.key === 'ArrowDown') j = i + COLS;
    else if (e.key === 'ArrowUp') j = i - COLS;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = buttons.length - 1;
    else if (e.key === 'Tab') { e.preventDefault(); close(); return; }
    else return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, j))].focus();
  });
  function outside(e) {
    if (!pop.contains(e.target) && e.target !== anchor && !anchor.contains(e.target)) close();
  }
  document.addEventListener('pointerdown', outside, true);
  container.appendChild(pop);
  const r = anchor.getBoundingClientRect();
  const pr = container.getBoundingClientRect();
  const w = Math.min(330, pr.width - 16);
  let left = r.left - pr.left;
  if (left + w > pr.width - 8) left = pr.width - 8 - w;
  pop.style.left = Math.max(8, left) + 'px';
  pop.style.width = w + 'px';
  const above = r.top - pr.top;
  if (above > 260) pop.style.bottom = (pr.bottom - r.top + 6) + 'px';
  else pop.style.top = (r.bottom - pr.top + 6) + 'px';
  buttons[0].focus();
  return close;
}
