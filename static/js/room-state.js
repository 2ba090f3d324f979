// The room as a page knows it, folded from server messages in order.

export function createRoomState() {
  return {
    room: null, lineup: [], pinned: null, product: null, online: 0, likes: 0,
    numbers: null, series: [], scripts: [], me: null,
  };
}

/** Apply one server message; returns true if it changed what pages show. */
export function apply(state, message) {
  switch (message.type) {
    case "snapshot": {
      state.room = message.room;
      state.lineup = message.room.lineup;
      state.pinned = message.room.pinned;
      state.product = state.lineup.find((p) => p.sku === state.pinned) || null;
      state.online = message.online;
      state.likes = message.likes;
      state.numbers = message.numbers ?? null;
      state.series = message.series ?? [];
      state.scripts = message.scripts ?? [];
      state.me = message.me ?? null;
      return true;
    }
    case "pinned":
      state.pinned = message.sku;
      state.product = message.product;
      return true;
    case "lineup":
      state.lineup = message.lineup;
      return true;
    case "tick":
      state.online = message.online;
      state.likes = message.likes;
      return true;
    case "numbers": {
      state.numbers = message.numbers;
      state.online = message.numbers.online;
      state.likes = message.numbers.likes;
      const minute = message.minute;
      const last = state.series[state.series.length - 1];
      if (last && last.t === minute.t) state.series[state.series.length - 1] = minute;
      else if (!last || last.t < minute.t) {
        state.series.push(minute);
        if (state.series.length > 60) state.series.shift();
      }
      return true;
    }
    default:
      return false;
  }
}
